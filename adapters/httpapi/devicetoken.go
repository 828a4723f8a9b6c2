package httpapi

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/dashtam/dashtam/domain/identity"
)

// Device tokens are OWASP's device cookies ("Slow Down Online Guessing
// Attacks with Device Cookies"): a successful login hands the client a token
// that names the device it logged in from, bound to the account, and a later
// login from that device presenting it is counted against the device's own
// rate-limit key instead of the account's. An attacker's failed logins spend
// the account's budget from devices that have no token, so they cannot lock the
// owner out of the devices the owner has already logged in from; a stolen
// token is limited per device like any other key.
//
// A token is stateless: "d1." then base64url of the user id, the device id,
// the account's email digest (emailDigest) and the expiry (Unix seconds), then
// "." and base64url of their HMAC-SHA256. The rate limiter checks it against
// the login's email without reading the database. Rotating the primary
// JWT_SIGNING_KEYS key (from which bootstrap derives the secret) makes every
// device unknown again.
type deviceTokens struct {
	key []byte
	ttl time.Duration
}

// DeviceTokenTTL is how long a device token is honoured after the login that
// issued it; each login from the device issues a new one.
const DeviceTokenTTL = 90 * 24 * time.Hour

// deviceCookie is the cookie browsers keep the device token in: HttpOnly,
// Secure, SameSite=Strict, sent only to the login route.
const deviceCookie = "dashtam_device"

const deviceTokenPrefix = "d1."

// deviceTokenPayload: user id, device id, email digest, expiry.
const deviceTokenPayload = 16 + 16 + 16 + 8

func newDeviceTokens(secret []byte) *deviceTokens {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte("dashtam device token v1"))
	return &deviceTokens{key: mac.Sum(nil), ttl: DeviceTokenTTL}
}

// issue makes the token of device for the account of user whose email has
// digest emailDigest (hex, as emailDigest returns it).
func (d *deviceTokens) issue(user, device uuid.UUID, digest string, now time.Time) string {
	payload := make([]byte, 0, deviceTokenPayload)
	payload = append(payload, user[:]...)
	payload = append(payload, device[:]...)
	sum, _ := hex.DecodeString(digest)
	payload = append(payload, sum...)
	payload = binary.BigEndian.AppendUint64(payload, uint64(now.Add(d.ttl).Unix()))
	enc := base64.RawURLEncoding
	return deviceTokenPrefix + enc.EncodeToString(payload) + "." + enc.EncodeToString(d.sign(payload))
}

// deviceClaim is what a valid device token says.
type deviceClaim struct {
	user, device uuid.UUID
}

// check returns what token says when it is genuine, unexpired and issued for
// the account whose email has digest; ok is false otherwise.
func (d *deviceTokens) check(token, digest string, now time.Time) (deviceClaim, bool) {
	rest, found := strings.CutPrefix(token, deviceTokenPrefix)
	if !found {
		return deviceClaim{}, false
	}
	p64, m64, found := strings.Cut(rest, ".")
	if !found {
		return deviceClaim{}, false
	}
	// Strict: one spelling per token, so an altered token never passes.
	enc := base64.RawURLEncoding.Strict()
	payload, err1 := enc.DecodeString(p64)
	mac, err2 := enc.DecodeString(m64)
	if err1 != nil || err2 != nil || len(payload) != deviceTokenPayload || !hmac.Equal(mac, d.sign(payload)) {
		return deviceClaim{}, false
	}
	if hex.EncodeToString(payload[32:48]) != digest {
		return deviceClaim{}, false
	}
	if expiry := int64(binary.BigEndian.Uint64(payload[48:])); now.Unix() >= expiry {
		return deviceClaim{}, false
	}
	return deviceClaim{user: uuid.UUID(payload[:16]), device: uuid.UUID(payload[16:32])}, true
}

func (d *deviceTokens) sign(payload []byte) []byte {
	mac := hmac.New(sha256.New, d.key)
	mac.Write(payload)
	return mac.Sum(nil)
}

// presentedDeviceToken is the device token of a login: the body's
// device_token (non-browser clients) or else the device cookie.
func presentedDeviceToken(c *gin.Context, fromBody string) string {
	if fromBody != "" {
		return fromBody
	}
	cookie, err := c.Cookie(deviceCookie)
	if err != nil {
		return ""
	}
	return cookie
}

// setDeviceCookie keeps token in the browser for the login route only.
func setDeviceCookie(c *gin.Context, token string, ttl time.Duration) {
	http.SetCookie(c.Writer, &http.Cookie{
		Name: deviceCookie, Value: token, Path: apiBase + "/sessions", MaxAge: int(ttl / time.Second),
		HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode,
	})
}

// emailDigest is the key an email is counted and bound under: the hex of the
// first 128 bits of the SHA-256 of the normalised address, so no address is
// kept in the store (or a device token) in clear.
func emailDigest(email identity.Email) string {
	sum := sha256.Sum256([]byte(email.String()))
	return hex.EncodeToString(sum[:16])
}
