// Package fakehash is a fast PasswordHasher for component and end-to-end tests,
// where argon2id's deliberate cost (tested in adapters/password) would only slow the
// suite down, especially under the race detector.
package fakehash

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"strings"

	identityapp "github.com/dashtam/dashtam/application/identity"
)

// Hasher salts and hashes with SHA-256. Never use it outside tests.
type Hasher struct{}

var _ identityapp.PasswordHasher = Hasher{}

const prefix = "$fake-sha256$"

// Hash returns "$fake-sha256$<salt>$<digest>".
func (Hasher) Hash(ctx context.Context, password string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	salt := make([]byte, 8)
	_, _ = rand.Read(salt)
	s := hex.EncodeToString(salt)
	return prefix + s + "$" + digest(s, password), nil
}

// Verify checks password against encoded.
func (Hasher) Verify(ctx context.Context, password, encoded string) (bool, bool, error) {
	if err := ctx.Err(); err != nil {
		return false, false, err
	}
	salt, sum, ok := strings.Cut(strings.TrimPrefix(encoded, prefix), "$")
	if !ok || !strings.HasPrefix(encoded, prefix) {
		return false, false, errors.New("fakehash: not a fake hash")
	}
	return subtle.ConstantTimeCompare([]byte(sum), []byte(digest(salt, password))) == 1, false, nil
}

func digest(salt, password string) string {
	d := sha256.Sum256([]byte(salt + "\x00" + password))
	return hex.EncodeToString(d[:])
}
