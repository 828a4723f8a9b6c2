package identity

import (
	"context"
	"time"
)

// How long what has ended is kept before PurgeExpired deletes it: long enough
// to answer a user's question about a recent session or mail, short enough
// that the database does not keep credentials' traces for ever.
const (
	// SessionRetention: a session, with its refresh tokens, is deleted this
	// long after it expired or was revoked.
	SessionRetention = 30 * 24 * time.Hour
	// OneTimeTokenRetention: a verification or reset token is deleted this
	// long after it expired, used or not.
	OneTimeTokenRetention = 7 * 24 * time.Hour
	// UnverifiedAccountRetention: an account whose email was never verified is
	// deleted this long after it registered. It cannot have connected a
	// provider (that needs a verified email), so nothing else is lost.
	UnverifiedAccountRetention = 30 * 24 * time.Hour
)

// PurgeExpired deletes the sessions, one-time tokens and never-verified
// accounts whose retention ended (the retention job runs it).
func (s *Service) PurgeExpired(ctx context.Context) (RetentionCounts, error) {
	now := s.clock.Now()
	return s.retention.PurgeExpired(ctx, RetentionCutoffs{
		SessionsEndedBefore:     now.Add(-SessionRetention),
		TokensExpiredBefore:     now.Add(-OneTimeTokenRetention),
		UnverifiedCreatedBefore: now.Add(-UnverifiedAccountRetention),
	})
}
