package httpapi

import (
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/domain/identity"
)

// A device token is honoured for the account and the time it was issued for,
// and for nothing else: not after it expires, not for another email, not once
// altered, not under another key.
func TestDeviceTokensBindAccountDeviceAndTime(t *testing.T) {
	t.Parallel()
	d := newDeviceTokens([]byte("device token test key of 32 bytes"))
	ann, _ := identity.ParseEmail("ann@example.com")
	bob, _ := identity.ParseEmail("bob@example.com")
	user, device := uuid.New(), uuid.New()
	now := time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC)
	token := d.issue(user, device, emailDigest(ann), now)

	if claim, ok := d.check(token, emailDigest(ann), now.Add(DeviceTokenTTL-time.Second)); !ok || claim.user != user || claim.device != device {
		t.Errorf("check before expiry = %+v, %v", claim, ok)
	}
	if _, ok := d.check(token, emailDigest(ann), now.Add(DeviceTokenTTL)); ok {
		t.Error("an expired token was honoured")
	}
	if _, ok := d.check(token, emailDigest(bob), now); ok {
		t.Error("a token was honoured for another email")
	}
	other := newDeviceTokens([]byte("another device token key, 32 byte"))
	if _, ok := other.check(token, emailDigest(ann), now); ok {
		t.Error("a token was honoured under another key")
	}
	for i := len(deviceTokenPrefix); i < len(token); i++ {
		if token[i] == '.' {
			continue
		}
		altered := token[:i] + string("AB"[strings.IndexByte("A", token[i])+1]) + token[i+1:]
		if _, ok := d.check(altered, emailDigest(ann), now); ok {
			t.Fatalf("a token altered at %d was honoured", i)
		}
	}
	if strings.Contains(token, "ann") {
		t.Error("the token carries the email in clear")
	}
}
