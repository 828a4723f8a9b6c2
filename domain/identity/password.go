// The list of common passwords in common_passwords.txt comes from the npm package
// @zxcvbn-ts/language-common 4.1.3 (file src/passwords.json), the frequency-ranked
// list of passwords seen in public breaches that zxcvbn uses for strength estimation
// (https://github.com/zxcvbn-ts/zxcvbn). Of its 49,233 entries we keep the 17,950
// that are 8 to 128 characters long, lowercased, deduplicated, most common first.
// It is used under the MIT licence:
//
//	Copyright (c) 2012-2016 Dan Wheeler and Dropbox, Inc.
//	Copyright (c) 2021 @zxcvbn-ts
//
//	Permission is hereby granted, free of charge, to any person obtaining
//	a copy of this software and associated documentation files (the
//	"Software"), to deal in the Software without restriction, including
//	without limitation the rights to use, copy, modify, merge, publish,
//	distribute, sublicense, and/or sell copies of the Software, and to
//	permit persons to whom the Software is furnished to do so, subject to
//	the following conditions:
//
//	The above copyright notice and this permission notice shall be
//	included in all copies or substantial portions of the Software.
//
//	THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND,
//	EXPRESS OR IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF
//	MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND
//	NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE
//	LIABLE FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION
//	OF CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION
//	WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.

package identity

import (
	_ "embed"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/dashtam/dashtam/domain"
)

// Password length limits, counted in characters (runes), not bytes, so that a
// passphrase in any script gets the same allowance. NIST SP 800-63B asks for at
// least 8 and for accepting at least 64; 128 keeps hashing cost bounded.
const (
	PasswordMinLength = 8
	PasswordMaxLength = 128
)

//go:embed common_passwords.txt
var commonPasswordList string

// commonPasswords is built on first use, so programs that never validate a
// password (migrations, the re-encryption CLI) do not pay for the map.
var commonPasswords = sync.OnceValue(func() map[string]struct{} {
	set := make(map[string]struct{}, strings.Count(commonPasswordList, "\n")+1)
	for line := range strings.Lines(commonPasswordList) {
		if p := strings.TrimRight(line, "\r\n"); p != "" {
			set[p] = struct{}{}
		}
	}
	return set
})

// ValidatePassword applies the NIST SP 800-63B rules for a new password: a length
// between PasswordMinLength and PasswordMaxLength characters, and not one of the most
// common passwords (compared case-insensitively, since changing the case of a
// breached password barely slows an attacker). There are deliberately no
// composition rules. field is the request field the problem is reported against
// (for example "password" or "new_password"); the password never appears in the
// error.
func ValidatePassword(field, password string) error {
	switch n := utf8.RuneCountInString(password); {
	case n < PasswordMinLength:
		return domain.NewValidationError(field, "too_short",
			"must be at least "+strconv.Itoa(PasswordMinLength)+" characters")
	case n > PasswordMaxLength:
		return domain.NewValidationError(field, "too_long",
			"must be at most "+strconv.Itoa(PasswordMaxLength)+" characters")
	}
	if _, common := commonPasswords()[strings.ToLower(password)]; common {
		return domain.NewValidationError(field, "too_common",
			"is too commonly used; choose another")
	}
	return nil
}
