package providers_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/dashtam/dashtam/application/providers"
	"github.com/dashtam/dashtam/domain"
)

func TestRetryAfterErrorIsProviderUnavailableAndCarriesItsDelay(t *testing.T) {
	err := fmt.Errorf("sync: %w", &providers.RetryAfterError{Delay: 30 * time.Second})
	if !errors.Is(err, domain.ErrProviderUnavailable) {
		t.Errorf("errors.Is(%v, ErrProviderUnavailable) = false", err)
	}
	var ra *providers.RetryAfterError
	if !errors.As(err, &ra) || ra.Delay != 30*time.Second {
		t.Errorf("errors.As found %v, want a delay of 30s", ra)
	}
	if errors.As(domain.ErrProviderUnavailable, &ra) {
		t.Error("a plain ErrProviderUnavailable must not be a RetryAfterError")
	}
}
