package sandbox

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"
)

// kind is what a sandbox credential is for; it is also its visible prefix.
type kind string

const (
	kindCode    kind = "SBC."
	kindAccess  kind = "SBA."
	kindRefresh kind = "SBR."
)

// codeSuffix ends every code, as '@' ends Schwab's, so the development flow
// exercises the same "decode exactly once" path as production.
const codeSuffix = "@"

// claims is the signed content of a code or token.
type claims struct {
	Type kind `json:"-"`
	// ID makes every credential unique; for codes it is the replay-cache key.
	ID string `json:"id"`
	// Expires is the Unix second from which the credential is refused.
	Expires int64 `json:"exp"`
	// Consent is, for tokens, the Unix second of the original consent; the
	// data the grant reaches starts a year before it.
	Consent int64 `json:"con,omitempty"`
	// Grant is, for tokens, the id of the code the grant was made with: stable
	// across refreshes and unique per connection, it seeds the grant's data.
	Grant string `json:"gid,omitempty"`
	// User is the sandbox user chosen at consent (see Variant); it travels from
	// the code into every token of the grant.
	User string `json:"usr,omitempty"`
	// Redirect is, for codes, the redirect URL they were issued for.
	Redirect string `json:"red,omitempty"`
}

var b64 = base64.RawURLEncoding

// mint encodes and signs c as <kind><payload>.<mac>, plus codeSuffix for codes.
func (s settings) mint(c claims) string {
	c.ID = rand.Text()
	payload, _ := json.Marshal(c)
	signed := string(c.Type) + b64.EncodeToString(payload)
	out := signed + "." + b64.EncodeToString(s.mac(signed))
	if c.Type == kindCode {
		out += codeSuffix
	}
	return out
}

// verify checks raw's kind, signature and expiry at now and returns its claims.
func (s settings) verify(raw string, want kind, now time.Time) (claims, bool) {
	if want == kindCode {
		var ok bool
		if raw, ok = strings.CutSuffix(raw, codeSuffix); !ok {
			return claims{}, false
		}
	}
	rest, ok := strings.CutPrefix(raw, string(want))
	if !ok {
		return claims{}, false
	}
	encoded, sig, ok := strings.Cut(rest, ".")
	if !ok {
		return claims{}, false
	}
	mac, err := b64.DecodeString(sig)
	if err != nil || !hmac.Equal(mac, s.mac(string(want)+encoded)) {
		return claims{}, false
	}
	payload, err := b64.DecodeString(encoded)
	if err != nil {
		return claims{}, false
	}
	var c claims
	if err := json.Unmarshal(payload, &c); err != nil {
		return claims{}, false
	}
	c.Type = want
	if now.Unix() >= c.Expires {
		return claims{}, false
	}
	return c, true
}

func (s settings) mac(signed string) []byte {
	m := hmac.New(sha256.New, s.macKey)
	m.Write([]byte(signed))
	return m.Sum(nil)
}
