package identity

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
)

// TokenHash is the SHA-256 digest under which an opaque token is stored. The token
// itself is never stored, so a database leak does not leak usable tokens, and
// lookups stay O(1).
type TokenHash [sha256.Size]byte

// HashToken returns the digest of an opaque token as a client presents it.
func HashToken(token string) TokenHash { return sha256.Sum256([]byte(token)) }

// NewOpaqueToken returns a fresh 256-bit random token (URL-safe base64, 43
// characters) and its digest.
func NewOpaqueToken() (string, TokenHash) {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+); it crashes the program instead.
	token := base64.RawURLEncoding.EncodeToString(b[:])
	return token, HashToken(token)
}
