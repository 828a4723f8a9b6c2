// Package vault encrypts provider tokens at rest with AES-256-GCM under a keyring,
// so a database dump alone does not hand over anyone's brokerage or bank access,
// and a key can be rotated without downtime.
package vault

import (
	"crypto/aes"
	"crypto/cipher"
	"errors"
	"fmt"
)

// KeySize is the length of every key's secret: AES-256.
const KeySize = 32

// formatVersion is the first byte of every ciphertext, so the format can change
// later and old rows stay readable.
const formatVersion byte = 1

const (
	maxKeyIDLen = 32
	// gcmOverhead is the random nonce (12 bytes) plus the tag (16 bytes).
	gcmOverhead = 12 + 16
)

// ErrUnknownKey means a ciphertext names a key the keyring does not hold, typically
// because that key was retired before every row had been re-encrypted. It is worth
// telling apart from tampering: the data is intact and the old key would read it.
var ErrUnknownKey = errors.New("vault: ciphertext key id not in keyring")

// ErrInvalidCiphertext means a ciphertext is truncated, of an unknown format
// version, tampered with, or bound to other associated data (copied from another
// row or field). The error never includes the plaintext or the ciphertext.
var ErrInvalidCiphertext = errors.New("vault: invalid ciphertext")

// Key is one key of the keyring. ID is stored in every ciphertext so decryption
// knows which key to use; it is not secret.
type Key struct {
	// ID is 1 to 32 characters of [A-Za-z0-9_-].
	ID string
	// Secret is KeySize random bytes.
	Secret []byte
}

// Keyring is the persistence adapter's TokenCipher: the first key encrypts, every
// key decrypts. Rotation is: put a new key first, re-encrypt every row that
// IsPrimary reports false for, then drop the old key. It is safe for concurrent
// use.
//
// A ciphertext is
//
//	version (1 byte, = 1) | key id length (1 byte) | key id | nonce (12 bytes) | ciphertext | tag (16 bytes)
//
// and the authenticated data is the leading version, length and key id followed by
// the caller's associated data, so neither the header nor the row binding can be
// altered without failing authentication.
type Keyring struct {
	primary *key
	keys    map[string]*key
}

type key struct {
	id string
	// header is the ciphertext prefix for this key: version, id length, id.
	header []byte
	// aead is built once: AES key expansion per call would be wasted work.
	aead cipher.AEAD
}

// New builds a keyring from keys, the first of which is primary. It rejects an
// empty keyring, malformed or duplicate ids and secrets that are not KeySize bytes.
// Errors name the offending key's id, never its secret.
func New(keys []Key) (*Keyring, error) {
	if len(keys) == 0 {
		return nil, errors.New("vault: no keys")
	}
	r := &Keyring{keys: make(map[string]*key, len(keys))}
	for i, k := range keys {
		if !validKeyID(k.ID) {
			return nil, fmt.Errorf("vault: key %d: id must be 1 to %d characters of [A-Za-z0-9_-]", i, maxKeyIDLen)
		}
		if _, dup := r.keys[k.ID]; dup {
			return nil, fmt.Errorf("vault: key id %q appears twice", k.ID)
		}
		if len(k.Secret) != KeySize {
			return nil, fmt.Errorf("vault: key %q: secret must be %d bytes", k.ID, KeySize)
		}
		block, err := aes.NewCipher(k.Secret)
		if err != nil {
			return nil, fmt.Errorf("vault: key %q: %w", k.ID, err)
		}
		aead, err := cipher.NewGCMWithRandomNonce(block)
		if err != nil {
			return nil, fmt.Errorf("vault: key %q: %w", k.ID, err)
		}
		header := append([]byte{formatVersion, byte(len(k.ID))}, k.ID...)
		r.keys[k.ID] = &key{id: k.ID, header: header, aead: aead}
	}
	r.primary = r.keys[keys[0].ID]
	return r, nil
}

func validKeyID(id string) bool {
	if len(id) == 0 || len(id) > maxKeyIDLen {
		return false
	}
	for _, c := range []byte(id) {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_':
		default:
			return false
		}
	}
	return true
}

// Encrypt seals plaintext under the primary key with a fresh random nonce, bound
// to associatedData (the row and field it belongs to). The same associatedData
// must be given to Decrypt.
func (r *Keyring) Encrypt(plaintext, associatedData []byte) ([]byte, error) {
	k := r.primary
	out := make([]byte, len(k.header), len(k.header)+gcmOverhead+len(plaintext))
	copy(out, k.header)
	return k.aead.Seal(out, nil, plaintext, authenticated(k.header, associatedData)), nil
}

// Decrypt opens a ciphertext made by Encrypt with any key of the keyring. It
// returns an error wrapping ErrUnknownKey or ErrInvalidCiphertext, and never a
// partial plaintext.
func (r *Keyring) Decrypt(ciphertext, associatedData []byte) ([]byte, error) {
	id, err := keyID(ciphertext)
	if err != nil {
		return nil, err
	}
	k, ok := r.keys[string(id)]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownKey, id)
	}
	body := ciphertext[len(k.header):]
	plaintext, err := k.aead.Open(nil, nil, body, authenticated(k.header, associatedData))
	if err != nil {
		return nil, fmt.Errorf("%w: authentication failed (tampered, or associated data differs)", ErrInvalidCiphertext)
	}
	return plaintext, nil
}

// IsPrimary reports whether ciphertext names the primary key, so a re-encryption
// pass can skip rows that are already current. It does not authenticate the
// ciphertext (that needs the associated data); it reports false for anything too
// short or of another format.
func (r *Keyring) IsPrimary(ciphertext []byte) bool {
	id, err := keyID(ciphertext)
	return err == nil && string(id) == r.primary.id
}

// keyID returns the key id from a ciphertext's header, after checking the format
// version and that the ciphertext is long enough to hold a nonce and a tag.
func keyID(ciphertext []byte) ([]byte, error) {
	if len(ciphertext) < 2 {
		return nil, fmt.Errorf("%w: truncated", ErrInvalidCiphertext)
	}
	if ciphertext[0] != formatVersion {
		return nil, fmt.Errorf("%w: unsupported format version", ErrInvalidCiphertext)
	}
	n := int(ciphertext[1])
	if n == 0 || n > maxKeyIDLen {
		return nil, fmt.Errorf("%w: bad key id length", ErrInvalidCiphertext)
	}
	if len(ciphertext) < 2+n+gcmOverhead {
		return nil, fmt.Errorf("%w: truncated", ErrInvalidCiphertext)
	}
	return ciphertext[2 : 2+n], nil
}

// authenticated is the data GCM authenticates besides the plaintext: the header,
// then the caller's associated data. The header has its own length byte, so the
// concatenation is unambiguous.
func authenticated(header, associatedData []byte) []byte {
	ad := make([]byte, 0, len(header)+len(associatedData))
	return append(append(ad, header...), associatedData...)
}
