package datasync

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/application/providers"
	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/domain/datasync"
	"github.com/dashtam/dashtam/domain/finance"
)

// run is one run of a sync's job: what it has learned so far, and the errors
// of single accounts it met on the way.
type run struct {
	engine     *Engine
	syncID     uuid.UUID
	providerID uuid.UUID

	data   providers.DataConnector
	tokens providers.Tokens
	// accounts are the provider's stored accounts by institution id, closed
	// ones too, as this run saved them.
	accounts map[string]*finance.Account
	// answered are the accounts this run's Accounts answer listed and that
	// could be stored, in its order.
	answered []*finance.Account
	total    int
	// balances are the Accounts answer's balances by institution id.
	balances map[string]providers.BalanceRecord
	// newestAsOf is the newest as-of of the balances this run fetched.
	newestAsOf time.Time
	errs       []datasync.AccountError
	// unrecorded are the results of the transaction pages committed since
	// the sync's row last recorded them (recordedAt, the engine's clock);
	// see recordPage.
	unrecorded datasync.TransactionResults
	recordedAt time.Time
}

// recordEvery is how often at most the transaction pages of a run record
// their results in the sync's row, which GET /providers/{id}/syncs shows
// while it runs. A page is stored in a transaction of its own; recording
// each page's counts took a second one (lock the sync, update it, commit):
// an initial sync of 100,000 transactions is 200 pages, and the second
// transaction per page (about 2 ms of commit and round trips on Postgres)
// was about a tenth of the sync's time (docs/performance.md). The first page
// records at once, later ones at most once a second, and the walk records
// what is left whatever ends it (endPages).
const recordEvery = time.Second

// all runs every step, each committed on its own; the first error that is
// not one account's ends the run.
func (r *run) all(ctx context.Context) error {
	var err error
	if r.data, r.tokens, err = r.engine.access.DataAccess(ctx, r.providerID); err != nil {
		return err
	}
	for _, step := range []func(context.Context) error{r.syncAccounts, r.syncBalances, r.syncHoldings, r.syncTransactions} {
		if err := step(ctx); err != nil {
			return err
		}
	}
	return nil
}

// call calls the institution with the run's tokens. If it refuses the access
// token, the tokens are refreshed and the call is made once more; a second
// refusal is errRefused.
func (r *run) call(ctx context.Context, fn func(providers.Tokens) error) error {
	err := fn(r.tokens)
	if !errors.Is(err, domain.ErrInvalidRequest) {
		return err
	}
	tokens, refreshErr := r.engine.access.RefreshRefused(ctx, r.providerID, r.tokens)
	if refreshErr != nil {
		return refreshErr
	}
	r.tokens = tokens
	if err = fn(r.tokens); errors.Is(err, domain.ErrInvalidRequest) {
		return fmt.Errorf("%w: %w", errRefused, err)
	}
	return err
}

// record adds res to the sync's results, and moves its progress when
// progress is not nil, unless the sync is no longer running (errStopped).
func (r *run) record(ctx context.Context, res datasync.Results, progress *datasync.Progress) error {
	_, err := r.engine.store.UpdateSync(ctx, r.syncID, func(s *datasync.Sync, _ *State) error {
		if s.Status() != datasync.StatusRunning {
			return errStopped
		}
		if progress != nil {
			if err := s.Advance(*progress); err != nil {
				return err
			}
		}
		return s.Record(res)
	})
	return err
}

// recordPage adds a committed page's results to those not yet recorded and
// records them all in the sync's row when recordEvery has passed since the
// last record (the first page at once).
func (r *run) recordPage(ctx context.Context, res datasync.TransactionResults) error {
	r.unrecorded.Added += res.Added
	r.unrecorded.Modified += res.Modified
	r.unrecorded.Removed += res.Removed
	if now := r.engine.clock.Now(); !r.recordedAt.IsZero() && now.Sub(r.recordedAt) < recordEvery {
		return nil
	}
	return r.flushPages(ctx)
}

// flushPages records the results of the pages committed since the last
// record, if any.
func (r *run) flushPages(ctx context.Context) error {
	if r.unrecorded != (datasync.TransactionResults{}) {
		if err := r.record(ctx, datasync.Results{Transactions: r.unrecorded}, nil); err != nil {
			return err
		}
	}
	r.unrecorded, r.recordedAt = datasync.TransactionResults{}, r.engine.clock.Now()
	return nil
}

// endPages records, when the walk of the transaction pages ends with err,
// the results of the pages committed since the last record, and returns err,
// or the record's error when err is nil. A walk cut short by a shutdown still
// records them (within flushTimeout): its pages stay committed, and the job
// resumes after them.
func (r *run) endPages(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), flushTimeout)
		defer cancel()
	}
	if flushErr := r.flushPages(ctx); err == nil {
		return flushErr
	}
	return err
}

// flushTimeout bounds endPages' record after a shutdown.
const flushTimeout = 5 * time.Second

// stillRunning returns errStopped once the sync was canceled.
func (r *run) stillRunning(ctx context.Context) error {
	s, err := r.engine.store.SyncByID(ctx, r.syncID)
	if err != nil {
		return err
	}
	if s.Status() != datasync.StatusRunning {
		return errStopped
	}
	return nil
}

// fail records an error of one account.
func (r *run) fail(e datasync.AccountError) {
	if !slices.Contains(r.errs, e) {
		r.errs = append(r.errs, e)
	}
}

// finish ends the sync with the errors met, plus wide, the provider-wide
// error that ended the run early (nil when it ran to the end), and sets the
// provider's State: when it last synced, how fresh its data is, and when it
// is due again.
func (r *run) finish(ctx context.Context, wide []datasync.AccountError) error {
	errs := slices.Concat(r.errs, wide)
	now := r.engine.clock.Now()
	_, err := r.engine.store.UpdateSync(ctx, r.syncID, func(s *datasync.Sync, st *State) error {
		if s.Status() != datasync.StatusRunning {
			return errStopped
		}
		if wide == nil {
			done := max(r.total, s.Progress().AccountsDone)
			if err := s.Advance(datasync.Progress{AccountsTotal: done, AccountsDone: done}); err != nil {
				return err
			}
		}
		if err := s.Finish(errs, now); err != nil {
			return err
		}
		if s.Status() == datasync.StatusSucceeded || s.Status() == datasync.StatusPartial {
			st.LastSyncedAt = now
			if r.newestAsOf.After(st.DataAsOf) {
				st.DataAsOf = r.newestAsOf
			}
		}
		st.NextSyncAt = nextSyncAt(now, r.engine.interval)
		return nil
	})
	return err
}

// newID returns a new entity id (see newSync on why it cannot fail).
func newID() uuid.UUID { return uuid.Must(uuid.NewV7()) }

// dataError marks an error of the institution's data for one account (a
// record that fails validation): the account fails, the others go on.
type dataError struct{ err error }

func (e dataError) Error() string { return "invalid data from the institution: " + e.err.Error() }
func (e dataError) Unwrap() error { return e.err }

// isDataError reports whether err is the institution's data's fault: a
// record that fails validation, or that contradicts what is stored.
func isDataError(err error) bool {
	var v *domain.ValidationError
	var d dataError
	return errors.As(err, &v) || errors.As(err, &d) || errors.Is(err, finance.ErrInstitutionIDChanged) ||
		errors.Is(err, finance.ErrIllegalTransition)
}
