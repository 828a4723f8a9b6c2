package sandbox

import (
	"context"
	"fmt"
	"time"

	"github.com/dashtam/dashtam/application/providers"
	"github.com/dashtam/dashtam/domain"
)

// The sandbox users. Like Plaid's sandbox usernames, the user chosen at consent
// decides what the grant's data calls do. A developer picks one by adding
// login_hint=<user> to the authorization URL; without it the grant is UserGood.
const (
	// UserGood serves about a year of data across checking, savings, credit
	// card and brokerage accounts, and keeps changing as time passes.
	UserGood = "user_good"
	// UserLarge serves a year of exactly LargeTransactions transactions, for
	// benchmarks; it has no removals and no activity after the year.
	UserLarge = "user_large"
	// UserSlow answers every data call after SlowDelay, so the caller's
	// timeout runs out first.
	UserSlow = "user_slow"
	// UserError fails every data call as an institution's 5xx does.
	UserError = "user_error"
	// UserRateLimited answers every data call with a 429 and a Retry-After of
	// RateLimitDelay.
	UserRateLimited = "user_ratelimited"
	// UserPartial serves UserGood's data except the brokerage account's
	// holdings, which the institution cannot answer for: the answer reports
	// that one account's failure and covers the others.
	UserPartial = "user_partial"
	// UserReauth refuses every data call as if the user had revoked consent at
	// the institution (Plaid's ITEM_LOGIN_REQUIRED).
	UserReauth = "user_reauth"
)

const (
	// LargeTransactions is how many transactions UserLarge serves.
	LargeTransactions = 100_000
	// SlowDelay is how long UserSlow takes to answer.
	SlowDelay = 2 * time.Minute
	// RateLimitDelay is the Retry-After UserRateLimited answers with.
	RateLimitDelay = 30 * time.Second
)

// knownUser reports whether a login_hint names a sandbox user; an absent one
// is UserGood.
func knownUser(hint string) bool {
	switch hint {
	case "", UserGood, UserLarge, UserSlow, UserError, UserRateLimited, UserPartial, UserReauth:
		return true
	}
	return false
}

// failure is what a failing user's data call returns instead of data, after
// waiting as that user does; nil for users that serve data.
func failure(ctx context.Context, user string) error {
	switch user {
	case UserSlow:
		timer := time.NewTimer(SlowDelay)
		defer timer.Stop()
		select {
		case <-timer.C:
			return nil
		case <-ctx.Done():
			return fmt.Errorf("sandbox: no answer before %w: %w", ctx.Err(), domain.ErrProviderTimeout)
		}
	case UserError:
		return fmt.Errorf("sandbox: institution answered 503: %w", domain.ErrProviderUnavailable)
	case UserRateLimited:
		return fmt.Errorf("sandbox: institution answered 429: %w", &providers.RetryAfterError{Delay: RateLimitDelay})
	case UserReauth:
		return fmt.Errorf("sandbox: the user withdrew consent at the institution: %w", domain.ErrReauthorizationRequired)
	}
	return nil
}
