package webhook

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"
)

// SecretPrefix starts every signing secret as shown to its owner (the
// Standard Webhooks convention).
const SecretPrefix = "whsec_"

// secretBytes is how many random bytes a secret has.
const secretBytes = 32

// Secret is an endpoint's signing key: random bytes, shown to its owner once,
// as SecretPrefix + base64. It is never logged: String and GoString hide it.
type Secret struct{ b []byte }

// NewSecret draws a fresh random secret.
func NewSecret() (Secret, error) {
	b := make([]byte, secretBytes)
	if _, err := rand.Read(b); err != nil {
		return Secret{}, err
	}
	return Secret{b: b}, nil
}

// SecretFromBytes rebuilds a secret from its raw bytes (storage).
func SecretFromBytes(b []byte) Secret { return Secret{b: append([]byte(nil), b...)} }

// ParseSecret reads a secret as Reveal shows it.
func ParseSecret(s string) (Secret, error) {
	raw, ok := strings.CutPrefix(s, SecretPrefix)
	if !ok {
		return Secret{}, errors.New("webhook secret: no " + SecretPrefix + " prefix")
	}
	b, err := base64.StdEncoding.DecodeString(raw)
	if err != nil || len(b) < 24 || len(b) > 64 {
		return Secret{}, errors.New("webhook secret: not base64 of 24 to 64 bytes")
	}
	return Secret{b: b}, nil
}

// IsZero reports whether s is no secret.
func (s Secret) IsZero() bool { return len(s.b) == 0 }

// Bytes returns the raw key (for storage, encrypted).
func (s Secret) Bytes() []byte { return append([]byte(nil), s.b...) }

// Reveal returns the secret as its owner is shown it, once: whsec_<base64>.
func (s Secret) Reveal() string { return SecretPrefix + base64.StdEncoding.EncodeToString(s.b) }

// String hides the secret (so a log or an error never shows it).
func (s Secret) String() string { return "whsec_[redacted]" }

// GoString hides the secret from %#v too.
func (s Secret) GoString() string { return s.String() }

// Headers of a Standard Webhooks delivery.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// Sign returns the webhook-signature header of a message: for each secret,
// "v1," + base64(HMAC-SHA256(secret, id + "." + timestamp + "." + body)),
// separated by spaces (two during a rotation's overlap).
func Sign(secrets []Secret, msgID string, at time.Time, body []byte) string {
	ts := strconv.FormatInt(at.Unix(), 10)
	sigs := make([]string, 0, len(secrets))
	for _, s := range secrets {
		mac := hmac.New(sha256.New, s.b)
		mac.Write([]byte(msgID + "." + ts + "."))
		mac.Write(body)
		sigs = append(sigs, "v1,"+base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	}
	return strings.Join(sigs, " ")
}
