package vault

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzDecrypt feeds arbitrary ciphertexts and associated data to a keyring. Beyond
// not panicking, a rejection must be one of the two documented errors with no
// output, and anything that does decrypt must survive a re-encryption round trip.
// The committed corpus in testdata/fuzz/FuzzDecrypt holds real ciphertexts under
// both keys (associated data "u1|schwab|access_token"), so the fuzzer starts from
// inputs that reach GCM rather than stopping at the header checks.
func FuzzDecrypt(f *testing.F) {
	r := mustKeyring(f, keyNew, keyOld)
	aad := rowAAD("u1", "schwab", "access_token")
	ct, err := r.Encrypt([]byte(secretToken), aad)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(ct, aad)
	f.Add(ct[:len(ct)-1], aad)
	f.Add([]byte{}, []byte{})

	f.Fuzz(func(t *testing.T, ciphertext, associatedData []byte) {
		primary := r.IsPrimary(ciphertext)
		plaintext, err := r.Decrypt(ciphertext, associatedData)
		if err != nil {
			if !errors.Is(err, ErrInvalidCiphertext) && !errors.Is(err, ErrUnknownKey) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			if plaintext != nil {
				t.Fatalf("output %q alongside an error", plaintext)
			}
			return
		}
		if primary != bytes.HasPrefix(ciphertext, r.primary.header) {
			t.Fatalf("IsPrimary = %v disagrees with the header", primary)
		}
		again, err := r.Encrypt(plaintext, associatedData)
		if err != nil {
			t.Fatal(err)
		}
		if back, err := r.Decrypt(again, associatedData); err != nil || !bytes.Equal(back, plaintext) {
			t.Fatalf("re-encryption round trip = %q, %v", back, err)
		}
	})
}
