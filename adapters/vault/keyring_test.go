package vault

import (
	"bytes"
	"errors"
	"strings"
	"sync"
	"testing"
)

var (
	keyNew = Key{ID: "k2026", Secret: []byte("0123456789abcdef0123456789abcdef")}
	keyOld = Key{ID: "k2025", Secret: []byte("fedcba9876543210fedcba9876543210")}
	// keyOther has keyNew's id but another secret: a ciphertext from another
	// environment that happens to use the same naming.
	keyOther = Key{ID: "k2026", Secret: []byte("ABCDEFGHIJKLMNOPQRSTUVWXYZ012345")}
)

const secretToken = "plaid-access-token-THIS-IS-SECRET"

func mustKeyring(t testing.TB, keys ...Key) *Keyring {
	t.Helper()
	r, err := New(keys)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return r
}

func rowAAD(user, provider, field string) []byte {
	return []byte(user + "|" + provider + "|" + field)
}

func TestEncryptThenDecrypt(t *testing.T) {
	r := mustKeyring(t, keyNew, keyOld)
	tests := []struct {
		name      string
		plaintext []byte
		aad       []byte
	}{
		{name: "token bound to its row", plaintext: []byte(secretToken), aad: rowAAD("u1", "schwab", "access_token")},
		{name: "empty plaintext", plaintext: []byte{}, aad: rowAAD("u1", "schwab", "refresh_token")},
		{name: "nil associated data", plaintext: []byte(secretToken), aad: nil},
		{name: "binary plaintext", plaintext: []byte{0, 1, 2, 0xff, 0xfe, 0}, aad: []byte{0}},
		{name: "large plaintext", plaintext: bytes.Repeat([]byte("x"), 64<<10), aad: rowAAD("u2", "plaid", "access_token")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ct, err := r.Encrypt(tt.plaintext, tt.aad)
			if err != nil {
				t.Fatalf("Encrypt: %v", err)
			}
			// The documented layout: version | id length | id | nonce | ciphertext+tag.
			if ct[0] != 1 || int(ct[1]) != len(keyNew.ID) || string(ct[2:2+len(keyNew.ID)]) != keyNew.ID {
				t.Fatalf("header = %x, want version 1 and key id %q", ct[:2+len(keyNew.ID)], keyNew.ID)
			}
			if want := 2 + len(keyNew.ID) + 12 + len(tt.plaintext) + 16; len(ct) != want {
				t.Errorf("len(ciphertext) = %d, want %d", len(ct), want)
			}
			if len(tt.plaintext) > 8 && bytes.Contains(ct, tt.plaintext) {
				t.Error("ciphertext contains the plaintext")
			}
			got, err := r.Decrypt(ct, tt.aad)
			if err != nil {
				t.Fatalf("Decrypt: %v", err)
			}
			if !bytes.Equal(got, tt.plaintext) {
				t.Errorf("Decrypt = %q, want %q", got, tt.plaintext)
			}
			if !r.IsPrimary(ct) {
				t.Error("IsPrimary = false for a fresh ciphertext")
			}
		})
	}
}

func TestEncryptUsesFreshNonce(t *testing.T) {
	r := mustKeyring(t, keyNew)
	aad := rowAAD("u1", "schwab", "access_token")
	a, _ := r.Encrypt([]byte(secretToken), aad)
	b, _ := r.Encrypt([]byte(secretToken), aad)
	header := 2 + len(keyNew.ID)
	if bytes.Equal(a[header:header+12], b[header:header+12]) {
		t.Fatal("two encryptions used the same nonce")
	}
	if bytes.Equal(a, b) {
		t.Fatal("two encryptions of the same plaintext are identical")
	}
}

func TestDecryptRejectsOtherAssociatedData(t *testing.T) {
	r := mustKeyring(t, keyNew)
	aad := rowAAD("user-1", "schwab", "access_token")
	ct, err := r.Encrypt([]byte(secretToken), aad)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		aad  []byte
	}{
		{name: "copied to another user's row", aad: rowAAD("user-2", "schwab", "access_token")},
		{name: "copied to another provider", aad: rowAAD("user-1", "plaid", "access_token")},
		{name: "copied to another field", aad: rowAAD("user-1", "schwab", "refresh_token")},
		{name: "no associated data", aad: nil},
		{name: "prefix of the right data", aad: aad[:len(aad)-1]},
		{name: "right data plus a byte", aad: append(append([]byte(nil), aad...), 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := r.Decrypt(ct, tt.aad)
			assertRejected(t, got, err, ErrInvalidCiphertext)
		})
	}
}

func TestDecryptRejectsTampering(t *testing.T) {
	r := mustKeyring(t, keyNew, Key{ID: "k2027", Secret: bytes.Repeat([]byte{7}, 32)})
	aad := rowAAD("u1", "schwab", "access_token")
	ct, err := r.Encrypt([]byte(secretToken), aad)
	if err != nil {
		t.Fatal(err)
	}
	idEnd := 2 + len(keyNew.ID)
	nonceEnd := idEnd + 12
	tagStart := len(ct) - 16
	regions := []struct {
		name       string
		start, end int
	}{
		{name: "version", start: 0, end: 1},
		{name: "key id length", start: 1, end: 2},
		{name: "key id", start: 2, end: idEnd},
		{name: "nonce", start: idEnd, end: nonceEnd},
		{name: "ciphertext", start: nonceEnd, end: tagStart},
		{name: "tag", start: tagStart, end: len(ct)},
	}
	for _, region := range regions {
		t.Run("flip a bit in the "+region.name, func(t *testing.T) {
			for i := region.start; i < region.end; i++ {
				for _, bit := range []byte{0x01, 0x80} {
					tampered := bytes.Clone(ct)
					tampered[i] ^= bit
					got, err := r.Decrypt(tampered, aad)
					if err == nil {
						t.Fatalf("byte %d ^ %#x: Decrypt succeeded with %q", i, bit, got)
					}
					assertRejected(t, got, err, nil)
				}
			}
		})
	}
	t.Run("key id changed to the other key in the ring", func(t *testing.T) {
		tampered := bytes.Clone(ct)
		copy(tampered[2:idEnd], "k2027")
		got, err := r.Decrypt(tampered, aad)
		assertRejected(t, got, err, ErrInvalidCiphertext)
	})
	t.Run("truncated at every length", func(t *testing.T) {
		for n := range len(ct) {
			got, err := r.Decrypt(ct[:n], aad)
			if err == nil {
				t.Fatalf("Decrypt of the first %d bytes succeeded", n)
			}
			assertRejected(t, got, err, ErrInvalidCiphertext)
		}
	})
	t.Run("bytes appended", func(t *testing.T) {
		got, err := r.Decrypt(append(bytes.Clone(ct), 0), aad)
		assertRejected(t, got, err, ErrInvalidCiphertext)
	})
	t.Run("unsupported version", func(t *testing.T) {
		tampered := bytes.Clone(ct)
		tampered[0] = 2
		got, err := r.Decrypt(tampered, aad)
		assertRejected(t, got, err, ErrInvalidCiphertext)
	})
}

func TestDecryptRejectsMalformed(t *testing.T) {
	r := mustKeyring(t, keyNew)
	tests := []struct {
		name    string
		ct      []byte
		wantErr error
		// wellFormedHeader: the header names the primary key and the length is
		// plausible, so IsPrimary (which does not authenticate) says true.
		wellFormedHeader bool
	}{
		{name: "nil", ct: nil, wantErr: ErrInvalidCiphertext},
		{name: "one byte", ct: []byte{1}, wantErr: ErrInvalidCiphertext},
		{name: "version 0", ct: append([]byte{0, 5}, "k2026"...), wantErr: ErrInvalidCiphertext},
		{name: "zero-length key id", ct: append([]byte{1, 0}, make([]byte, 40)...), wantErr: ErrInvalidCiphertext},
		{name: "key id longer than 32", ct: append([]byte{1, 33}, make([]byte, 80)...), wantErr: ErrInvalidCiphertext},
		{name: "key id length beyond the data", ct: []byte{1, 5, 'k', '2'}, wantErr: ErrInvalidCiphertext},
		{name: "header only", ct: append([]byte{1, 5}, "k2026"...), wantErr: ErrInvalidCiphertext},
		{name: "shorter than nonce and tag", ct: append(append([]byte{1, 5}, "k2026"...), make([]byte, 27)...), wantErr: ErrInvalidCiphertext},
		{name: "nonce and tag of zeros", ct: append(append([]byte{1, 5}, "k2026"...), make([]byte, 28)...), wantErr: ErrInvalidCiphertext, wellFormedHeader: true},
		{name: "plaintext stored by mistake", ct: []byte(secretToken), wantErr: ErrInvalidCiphertext},
		{name: "unknown key", ct: append(append([]byte{1, 5}, "k1999"...), make([]byte, 40)...), wantErr: ErrUnknownKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := r.Decrypt(tt.ct, nil)
			assertRejected(t, got, err, tt.wantErr)
			if got := r.IsPrimary(tt.ct); got != tt.wellFormedHeader {
				t.Errorf("IsPrimary = %v, want %v", got, tt.wellFormedHeader)
			}
		})
	}
}

// assertRejected checks a failed Decrypt: an error of the expected kind (any of
// ours when want is nil), no output, and nothing secret in the message.
func assertRejected(t *testing.T, got []byte, err error, want error) {
	t.Helper()
	if err == nil {
		t.Fatalf("Decrypt succeeded with %q, want an error", got)
	}
	if want != nil && !errors.Is(err, want) {
		t.Errorf("Decrypt error = %v, want %v", err, want)
	}
	if want == nil && !errors.Is(err, ErrInvalidCiphertext) && !errors.Is(err, ErrUnknownKey) {
		t.Errorf("Decrypt error = %v, want ErrInvalidCiphertext or ErrUnknownKey", err)
	}
	if got != nil {
		t.Errorf("Decrypt returned %q alongside an error", got)
	}
	if strings.Contains(err.Error(), secretToken) || strings.Contains(err.Error(), "SECRET") {
		t.Errorf("error %q contains the plaintext", err)
	}
}

func TestRotation(t *testing.T) {
	aad := rowAAD("u1", "schwab", "refresh_token")
	before := mustKeyring(t, keyOld)
	ctOld, err := before.Encrypt([]byte(secretToken), aad)
	if err != nil {
		t.Fatal(err)
	}
	if !before.IsPrimary(ctOld) {
		t.Fatal("IsPrimary = false under the key that made it")
	}

	rotated := mustKeyring(t, keyNew, keyOld)
	if rotated.IsPrimary(ctOld) {
		t.Error("IsPrimary = true for a ciphertext under the demoted key")
	}
	got, err := rotated.Decrypt(ctOld, aad)
	if err != nil || string(got) != secretToken {
		t.Fatalf("rotated keyring cannot read the old ciphertext: %q, %v", got, err)
	}

	// The re-encryption pass.
	ctNew, err := rotated.Encrypt(got, aad)
	if err != nil {
		t.Fatal(err)
	}
	if !rotated.IsPrimary(ctNew) {
		t.Error("IsPrimary = false for a re-encrypted ciphertext")
	}
	if string(ctNew[2:2+len(keyNew.ID)]) != keyNew.ID {
		t.Errorf("re-encrypted under %q, want the new primary %q", ctNew[2:2+len(keyNew.ID)], keyNew.ID)
	}
	if before.IsPrimary(ctNew) {
		t.Error("the old keyring thinks the new ciphertext is its own")
	}
	if _, err := before.Decrypt(ctNew, aad); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("old keyring on the new ciphertext: %v, want ErrUnknownKey", err)
	}

	// After the old key is retired, only re-encrypted rows are readable.
	retired := mustKeyring(t, keyNew)
	if got, err := retired.Decrypt(ctNew, aad); err != nil || string(got) != secretToken {
		t.Errorf("retired keyring on the new ciphertext: %q, %v", got, err)
	}
	if _, err := retired.Decrypt(ctOld, aad); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("retired keyring on the old ciphertext: %v, want ErrUnknownKey", err)
	}
}

func TestSameIDOtherSecretDoesNotDecrypt(t *testing.T) {
	aad := rowAAD("u1", "schwab", "access_token")
	ct, err := mustKeyring(t, keyOther).Encrypt([]byte(secretToken), aad)
	if err != nil {
		t.Fatal(err)
	}
	got, err := mustKeyring(t, keyNew).Decrypt(ct, aad)
	assertRejected(t, got, err, ErrInvalidCiphertext)
}

func TestNewValidatesKeys(t *testing.T) {
	secret := bytes.Repeat([]byte{1}, 32)
	tests := []struct {
		name    string
		keys    []Key
		wantErr bool
	}{
		{name: "one key", keys: []Key{keyNew}},
		{name: "two keys", keys: []Key{keyNew, keyOld}},
		{name: "id of 32 characters", keys: []Key{{ID: strings.Repeat("a", 32), Secret: secret}}},
		{name: "id with dash and underscore", keys: []Key{{ID: "prod_2026-01", Secret: secret}}},
		{name: "no keys", keys: nil, wantErr: true},
		{name: "empty id", keys: []Key{{ID: "", Secret: secret}}, wantErr: true},
		{name: "id of 33 characters", keys: []Key{{ID: strings.Repeat("a", 33), Secret: secret}}, wantErr: true},
		{name: "id with a colon", keys: []Key{{ID: "k:1", Secret: secret}}, wantErr: true},
		{name: "id with a non-ASCII letter", keys: []Key{{ID: "clé", Secret: secret}}, wantErr: true},
		{name: "duplicate id", keys: []Key{keyNew, {ID: keyNew.ID, Secret: secret}}, wantErr: true},
		{name: "16-byte secret (AES-128)", keys: []Key{{ID: "k", Secret: secret[:16]}}, wantErr: true},
		{name: "33-byte secret", keys: []Key{{ID: "k", Secret: append(bytes.Clone(secret), 1)}}, wantErr: true},
		{name: "missing secret", keys: []Key{{ID: "k"}}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := New(tt.keys)
			if (err != nil) != tt.wantErr {
				t.Fatalf("New error = %v, wantErr %v", err, tt.wantErr)
			}
			if err != nil {
				for _, k := range tt.keys {
					if len(k.Secret) > 0 && strings.Contains(err.Error(), string(k.Secret)) {
						t.Errorf("error %q contains a secret", err)
					}
				}
				return
			}
			if r.primary.id != tt.keys[0].ID {
				t.Errorf("primary = %q, want the first key %q", r.primary.id, tt.keys[0].ID)
			}
		})
	}
}

func TestNewDoesNotKeepCallerSecret(t *testing.T) {
	secret := bytes.Clone(keyNew.Secret)
	r := mustKeyring(t, Key{ID: keyNew.ID, Secret: secret})
	ct, err := r.Encrypt([]byte(secretToken), nil)
	if err != nil {
		t.Fatal(err)
	}
	clear(secret) // the caller wipes its copy
	if got, err := r.Decrypt(ct, nil); err != nil || string(got) != secretToken {
		t.Errorf("Decrypt after the caller wiped its secret: %q, %v", got, err)
	}
}

func TestConcurrentUse(t *testing.T) {
	r := mustKeyring(t, keyNew, keyOld)
	var wg sync.WaitGroup
	for n := range 8 {
		wg.Go(func() {
			aad := rowAAD(string(rune('a'+n)), "schwab", "access_token")
			for range 200 {
				ct, err := r.Encrypt([]byte(secretToken), aad)
				if err != nil {
					t.Error(err)
					return
				}
				if got, err := r.Decrypt(ct, aad); err != nil || string(got) != secretToken {
					t.Errorf("Decrypt = %q, %v", got, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func BenchmarkEncrypt(b *testing.B) {
	r := mustKeyring(b, keyNew, keyOld)
	pt, aad := []byte(secretToken), rowAAD("u1", "schwab", "access_token")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Encrypt(pt, aad); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecrypt(b *testing.B) {
	r := mustKeyring(b, keyNew, keyOld)
	aad := rowAAD("u1", "schwab", "access_token")
	ct, err := r.Encrypt([]byte(secretToken), aad)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Decrypt(ct, aad); err != nil {
			b.Fatal(err)
		}
	}
}
