package password

import (
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
)

// ErrInvalidHash is wrapped by every Verify error about the stored hash itself
// (malformed, another algorithm or version, parameters out of bounds), so callers
// can tell a damaged credential row from a wrong password or a cancelled request.
// The error text describes what is wrong but never repeats the hash.
var ErrInvalidHash = errors.New("password: invalid stored hash")

type invalidHashError struct{ reason string }

func (e *invalidHashError) Error() string { return ErrInvalidHash.Error() + ": " + e.reason }
func (e *invalidHashError) Unwrap() error { return ErrInvalidHash }

func invalid(reason string) error { return &invalidHashError{reason: reason} }

// maxEncodedLen bounds the input before any parsing work: the longest string
// parsePHC can accept is well under it.
const maxEncodedLen = 256

const phcPrefix = "$argon2id$v=19$"

var b64 = base64.RawStdEncoding.Strict()

// encodePHC formats an argon2id hash in the PHC string format used by the
// reference implementation and libsodium:
//
//	$argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt>$<hash>
//
// with salt and hash in standard base64 without padding.
func encodePHC(p Params, salt, key []byte) string {
	b := make([]byte, 0, len(phcPrefix)+32+b64.EncodedLen(len(salt))+b64.EncodedLen(len(key)))
	b = append(b, phcPrefix...)
	b = append(b, "m="...)
	b = strconv.AppendUint(b, uint64(p.Memory), 10)
	b = append(b, ",t="...)
	b = strconv.AppendUint(b, uint64(p.Time), 10)
	b = append(b, ",p="...)
	b = strconv.AppendUint(b, uint64(p.Threads), 10)
	b = append(b, '$')
	b = b64.AppendEncode(b, salt)
	b = append(b, '$')
	b = b64.AppendEncode(b, key)
	return string(b)
}

// parsePHC is the inverse of encodePHC. It accepts only the canonical form that
// encodePHC produces (no optional PHC fields, no leading zeros, no padding), so
// every accepted string re-encodes to itself, and it bounds every parameter so a
// planted hash cannot turn one login into a denial of service.
func parsePHC(s string) (p Params, salt, key []byte, err error) {
	if len(s) > maxEncodedLen {
		return Params{}, nil, nil, invalid("too long")
	}
	fields := strings.Split(s, "$")
	if len(fields) != 6 || fields[0] != "" {
		return Params{}, nil, nil, invalid("not a PHC string")
	}
	if fields[1] != "argon2id" {
		return Params{}, nil, nil, invalid("unsupported algorithm")
	}
	if fields[2] != "v=19" {
		return Params{}, nil, nil, invalid("unsupported argon2 version")
	}

	m, rest, ok := cutParam(fields[3], "m=", maxMemory)
	if !ok {
		return Params{}, nil, nil, invalid("bad memory parameter")
	}
	if rest, ok = strings.CutPrefix(rest, ","); !ok {
		return Params{}, nil, nil, invalid("bad parameter list")
	}
	t, rest, ok := cutParam(rest, "t=", maxTime)
	if !ok || t < 1 {
		return Params{}, nil, nil, invalid("bad time parameter")
	}
	if rest, ok = strings.CutPrefix(rest, ","); !ok {
		return Params{}, nil, nil, invalid("bad parameter list")
	}
	threads, rest, ok := cutParam(rest, "p=", 255)
	if !ok || threads < 1 || rest != "" {
		return Params{}, nil, nil, invalid("bad parallelism parameter")
	}
	if m < 8*threads {
		return Params{}, nil, nil, invalid("memory below 8 KiB per lane")
	}

	salt, ok = decodeB64(fields[4], minSaltLen, maxSaltLen)
	if !ok {
		return Params{}, nil, nil, invalid("bad salt")
	}
	key, ok = decodeB64(fields[5], minKeyLen, maxKeyLen)
	if !ok {
		return Params{}, nil, nil, invalid("bad hash")
	}
	return Params{
		Memory:  uint32(m),
		Time:    uint32(t),
		Threads: uint8(threads),
		SaltLen: uint32(len(salt)),
		KeyLen:  uint32(len(key)),
	}, salt, key, nil
}

// cutParam reads "<name><decimal>" from the front of s, where the decimal has no
// sign and no leading zeros and is at most limit, and returns the rest of s.
func cutParam(s, name string, limit uint64) (v uint64, rest string, ok bool) {
	s, ok = strings.CutPrefix(s, name)
	if !ok {
		return 0, "", false
	}
	n := 0
	for n < len(s) && s[n] >= '0' && s[n] <= '9' {
		n++
	}
	if n == 0 || n > 10 || (n > 1 && s[0] == '0') {
		return 0, "", false
	}
	v, err := strconv.ParseUint(s[:n], 10, 64)
	if err != nil || v > limit {
		return 0, "", false
	}
	return v, s[n:], true
}

// decodeB64 decodes unpadded standard base64 and checks the decoded length. The
// length round trip also rejects the CR and LF characters that encoding/base64
// silently skips.
func decodeB64(s string, minLen, maxLen int) ([]byte, bool) {
	b, err := b64.DecodeString(s)
	if err != nil || len(b) < minLen || len(b) > maxLen || b64.EncodedLen(len(b)) != len(s) {
		return nil, false
	}
	return b, true
}
