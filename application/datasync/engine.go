package datasync

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/google/uuid"

	financeapp "github.com/dashtam/dashtam/application/finance"
	"github.com/dashtam/dashtam/application/jobs"
	"github.com/dashtam/dashtam/application/providers"
	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/domain/datasync"
	"github.com/dashtam/dashtam/domain/provider"
)

// DataAccess gives the engine a provider's data connector and usable tokens
// (providers.Connections implements it).
type DataAccess interface {
	// DataAccess returns the connector's data half and tokens that are not
	// about to expire.
	DataAccess(ctx context.Context, providerID uuid.UUID) (providers.DataConnector, providers.Tokens, error)
	// RefreshRefused returns new tokens after the institution refused
	// refused's access token.
	RefreshRefused(ctx context.Context, providerID uuid.UUID, refused providers.Tokens) (providers.Tokens, error)
	// RequireReauthorization records that the institution refused the grant
	// for good.
	RequireReauthorization(ctx context.Context, providerID uuid.UUID) error
}

// Engine runs syncs: it is the worker of SyncJob. It fetches a provider's
// accounts, balances, holdings and transactions through its connector and
// stores them through the finance Writes port, each step committed on its
// own, transaction pages with the connector's resume state, so a run that
// dies resumes after its last commit.
type Engine struct {
	store    Store
	finance  financeapp.Writes
	access   DataAccess
	clock    Clock
	interval time.Duration
	log      *slog.Logger
}

// NewEngine builds the engine. interval (SYNC_INTERVAL) is how long after a
// sync finishes the provider is due again, give or take 10% so that providers
// granted together do not stay in step.
func NewEngine(store Store, finance financeapp.Writes, access DataAccess, clock Clock, interval time.Duration,
	log *slog.Logger,
) *Engine {
	return &Engine{store: store, finance: finance, access: access, clock: clock, interval: interval, log: log}
}

// The stable codes of a sync's errors (AccountError.Code).
const (
	CodeReauthorizationRequired = "reauthorization_required"
	CodeNotConnected            = "provider_not_connected"
	CodeProviderUnavailable     = "provider_unavailable"
	CodeProviderTimeout         = "provider_timeout"
	CodeProviderRefused         = "provider_refused"
	CodeNotSupported            = "not_supported"
	CodeInvalidData             = "invalid_data"
	// CodeAbandoned: the sync stayed in flight far longer than any sync
	// takes (its job gave up), and the scheduler began another.
	CodeAbandoned = "sync_abandoned"
)

// errStopped: the sync is no longer running (canceled, or finished by an
// earlier run of its job); the run stops where it is.
var errStopped = errors.New("the sync is no longer running")

// Run runs the sync job names. It is idempotent: a sync that has finished or
// was canceled is left as it is (nil); a running one is a job run again after
// a crash or a postponement, and resumes after the last commit. A sync whose
// provider was deleted meanwhile is gone with it (nil).
//
// An institution asking to slow down returns *jobs.RetryAfter, so the job is
// postponed and the sync stays running. Other failures of the institution end
// the sync failed with a coded error; failures of our own stores are returned,
// so the job is retried and resumes.
func (e *Engine) Run(ctx context.Context, job SyncJob) error {
	if err := e.begin(ctx, job.SyncID); err != nil {
		return e.settled(ctx, job.SyncID, err)
	}
	r := &run{engine: e, syncID: job.SyncID, providerID: job.ProviderID}
	err := r.all(ctx)
	if ra, ok := errors.AsType[*providers.RetryAfterError](err); ok {
		return &jobs.RetryAfter{Delay: ra.Delay}
	}
	wide := providerWide(err)
	if err != nil && wide == nil {
		return e.settled(ctx, job.SyncID, err) // ours: retried, and resumed
	}
	if errors.Is(err, domain.ErrReauthorizationRequired) {
		if err := e.access.RequireReauthorization(ctx, job.ProviderID); err != nil {
			return e.settled(ctx, job.SyncID, err)
		}
	}
	return e.settled(ctx, job.SyncID, r.finish(ctx, wide))
}

// begin moves the sync from queued to running, or leaves it running for a
// resumed run; a sync that is neither is errStopped.
func (e *Engine) begin(ctx context.Context, syncID uuid.UUID) error {
	_, err := e.store.UpdateSync(ctx, syncID, func(s *datasync.Sync, _ *State) error {
		switch s.Status() {
		case datasync.StatusQueued:
			return s.Start(e.clock.Now())
		case datasync.StatusRunning:
			return nil
		}
		return errStopped
	})
	return err
}

// settled returns nil when the run ended with err has nothing more to do:
// the sync stopped (errStopped), or it is gone, deleted with its provider.
// Any other error is returned, so the job is retried.
func (e *Engine) settled(ctx context.Context, syncID uuid.UUID, err error) error {
	switch {
	case err == nil, errors.Is(err, errStopped):
		return nil
	case errors.Is(err, domain.ErrNotFound):
		if _, lookup := e.store.SyncByID(ctx, syncID); errors.Is(lookup, domain.ErrNotFound) {
			return nil
		}
	}
	return err
}

// providerWide returns the error a provider-wide failure ends the sync with,
// or nil when err is not the institution's (nil, or a failure of ours).
func providerWide(err error) []datasync.AccountError {
	code, retryable := classify(err)
	if code == "" {
		return nil
	}
	return []datasync.AccountError{{Code: code, Message: messages[code], Retryable: retryable}}
}

// classify returns the code of an institution's error and whether syncing
// again may succeed without the user; "" for an error that is not the
// institution's.
func classify(err error) (code string, retryable bool) {
	switch {
	case err == nil:
		return "", false
	case errors.Is(err, domain.ErrReauthorizationRequired):
		return CodeReauthorizationRequired, false
	case errors.Is(err, provider.ErrNotAuthorized):
		return CodeNotConnected, false
	case errors.Is(err, domain.ErrProviderTimeout):
		return CodeProviderTimeout, true
	case errors.Is(err, domain.ErrProviderUnavailable):
		return CodeProviderUnavailable, true
	case errors.Is(err, domain.ErrNotSupported):
		return CodeNotSupported, false
	case errors.Is(err, errRefused):
		return CodeProviderRefused, true
	}
	return "", false
}

// messages are the people's side of the codes; never the institution's text.
var messages = map[string]string{
	CodeReauthorizationRequired: "The institution no longer accepts this connection; authorize the provider again.",
	CodeNotConnected:            "The provider is not connected.",
	CodeProviderUnavailable:     "The institution failed to answer properly; the next sync will try again.",
	CodeProviderTimeout:         "The institution did not answer in time; the next sync will try again.",
	CodeProviderRefused:         "The institution refused the request; the next sync will try again.",
	CodeNotSupported:            "The institution does not offer this data.",
	CodeInvalidData:             "The institution sent data that could not be stored.",
	CodeAbandoned:               "The sync did not finish in time; a new one was started.",
}

// nextSyncAt is when a provider whose sync finished at now is due again:
// interval later, give or take 10%.
func nextSyncAt(now time.Time, interval time.Duration) time.Time {
	if interval <= 0 {
		return now
	}
	spread := int64(interval / 5)
	jitter := time.Duration(0)
	if spread > 0 {
		jitter = time.Duration(rand.Int64N(spread+1) - spread/2) //nolint:gosec // scheduling jitter, not a secret
	}
	return now.Add(interval + jitter)
}

// invalidData is the error of a record the institution sent that fails
// validation: the account's error, not the sync's.
func invalidData(accountID uuid.UUID) datasync.AccountError {
	return datasync.AccountError{AccountID: accountID, Code: CodeInvalidData, Message: messages[CodeInvalidData]}
}

// accountFailure is the error of one account the institution could not
// answer for.
func accountFailure(accountID uuid.UUID, err error) datasync.AccountError {
	code, retryable := classify(err)
	if code == "" {
		code, retryable = CodeProviderUnavailable, true
	}
	return datasync.AccountError{AccountID: accountID, Code: code, Message: messages[code], Retryable: retryable}
}

// errRefused: the institution refused the access token again right after it
// was refreshed.
var errRefused = errors.New("the institution refused a freshly refreshed access token")
