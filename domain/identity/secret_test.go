package identity

import (
	"crypto/sha256"
	"encoding/base64"
	"testing"
)

func TestNewOpaqueToken(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		tok, h := NewOpaqueToken()
		if len(tok) != 43 {
			t.Fatalf("token %q is %d characters, want 43", tok, len(tok))
		}
		raw, err := base64.RawURLEncoding.DecodeString(tok)
		if err != nil || len(raw) != 32 {
			t.Fatalf("token %q is not 32 bytes of unpadded URL-safe base64 (%d bytes, %v)", tok, len(raw), err)
		}
		if h != HashToken(tok) {
			t.Fatalf("digest of %q does not match HashToken", tok)
		}
		if seen[tok] {
			t.Fatalf("token %q repeated", tok)
		}
		seen[tok] = true
	}
}

func TestHashTokenIsSHA256OfTheToken(t *testing.T) {
	if got, want := HashToken("abc"), TokenHash(sha256.Sum256([]byte("abc"))); got != want {
		t.Fatalf("HashToken(abc) = %x, want %x", got, want)
	}
	if HashToken("abc") == HashToken("abd") {
		t.Fatal("different tokens share a digest")
	}
}
