package instrumented_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dashtam/dashtam/adapters/httpapi"
	"github.com/dashtam/dashtam/adapters/providers/instrumented"
	"github.com/dashtam/dashtam/application/providers"
	"github.com/dashtam/dashtam/domain"
)

// scripted is the connector of provider key whose every call returns err after
// a short pause.
type scripted struct {
	key   string
	err   error
	calls int
}

func (s *scripted) Type() providers.ProviderType { return providers.ProviderType{Key: s.key} }

func (s *scripted) Begin(context.Context, providers.BeginRequest) (providers.BeginResult, error) {
	s.calls++
	time.Sleep(time.Millisecond)
	return providers.BeginResult{AuthorizationURL: "https://acme.test/authorize"}, s.err
}

func (s *scripted) Complete(context.Context, string) (providers.Tokens, error) {
	s.calls++
	time.Sleep(time.Millisecond)
	return providers.Tokens{AccessToken: "complete"}, s.err
}

func (s *scripted) Refresh(context.Context, providers.Tokens) (providers.Tokens, error) {
	s.calls++
	time.Sleep(time.Millisecond)
	return providers.Tokens{AccessToken: "refresh"}, s.err
}

func (s *scripted) Revoke(context.Context, providers.Tokens) error {
	s.calls++
	time.Sleep(time.Millisecond)
	return s.err
}

type observation struct {
	provider, operation string
	err                 error
	elapsed             time.Duration
}

type recorder struct{ seen []observation }

func (r *recorder) ObserveProviderCall(provider, operation string, err error, elapsed time.Duration) {
	r.seen = append(r.seen, observation{provider, operation, err, elapsed})
}

// callAll calls each operation once and checks that results pass through.
func callAll(t *testing.T, c providers.Connector, wantErr error) {
	t.Helper()
	ctx := context.Background()
	begun, err := c.Begin(ctx, providers.BeginRequest{State: "s"})
	if !errors.Is(err, wantErr) || begun.AuthorizationURL != "https://acme.test/authorize" {
		t.Errorf("Begin = %+v, %v", begun, err)
	}
	tok, err := c.Complete(ctx, "grant")
	if !errors.Is(err, wantErr) || tok.AccessToken != "complete" {
		t.Errorf("Complete = %+v, %v", tok, err)
	}
	tok, err = c.Refresh(ctx, providers.Tokens{})
	if !errors.Is(err, wantErr) || tok.AccessToken != "refresh" {
		t.Errorf("Refresh = %+v, %v", tok, err)
	}
	if err := c.Revoke(ctx, providers.Tokens{}); !errors.Is(err, wantErr) {
		t.Errorf("Revoke = %v", err)
	}
}

// Every call reaches the wrapped connector once, its result comes back
// unchanged, and it is reported under the provider's key and its operation,
// with its error and a duration; Type is not a call and is not reported.
func TestWrapReportsEveryCall(t *testing.T) {
	for _, callErr := range []error{nil, fmt.Errorf("acme: token: %w", domain.ErrProviderTimeout)} {
		t.Run(fmt.Sprint(callErr), func(t *testing.T) {
			next, obs := &scripted{key: "acme", err: callErr}, &recorder{}
			c := instrumented.Wrap(next, obs)
			if c.Type().Key != "acme" {
				t.Errorf("Type = %+v", c.Type())
			}
			callAll(t, c, callErr)
			if next.calls != 4 {
				t.Errorf("the wrapped connector saw %d calls, want 4", next.calls)
			}
			want := []string{instrumented.OperationBegin, instrumented.OperationComplete, instrumented.OperationRefresh, instrumented.OperationRevoke}
			if len(obs.seen) != len(want) {
				t.Fatalf("observed %+v, want one per operation %v", obs.seen, want)
			}
			for i, o := range obs.seen {
				if o.provider != "acme" || o.operation != want[i] || !errors.Is(o.err, callErr) || o.elapsed < time.Millisecond {
					t.Errorf("observation %d = %+v, want acme %s %v after at least 1ms", i, o, want[i], callErr)
				}
			}
		})
	}
}

// Through the service's metrics, each kind of connector error becomes the
// outcome docs/operations.md lists, and never the error's text.
func TestWrapRecordsOutcomesInTheMetric(t *testing.T) {
	outcomes := map[string]error{
		"ok":                       nil,
		"timeout":                  domain.ErrProviderTimeout,
		"unavailable":              fmt.Errorf("acme: 502: %w", domain.ErrProviderUnavailable),
		"reauthorization_required": domain.ErrReauthorizationRequired,
		"not_supported":            domain.ErrNotSupported,
		"error":                    errors.New("acme: secret-looking detail"),
	}
	reg := prometheus.NewRegistry()
	metrics, err := httpapi.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	// Each outcome's calls come from a provider named after it.
	for outcome, callErr := range outcomes {
		callAll(t, instrumented.Wrap(&scripted{key: "acme-" + outcome, err: callErr}, metrics), callErr)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	series := 0
	for _, mf := range mfs {
		if mf.GetName() != "provider_call_duration_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			series++
			labels := map[string]string{}
			for _, lp := range m.GetLabel() {
				labels[lp.GetName()] = lp.GetValue()
			}
			if labels["provider"] != "acme-"+labels["outcome"] || m.GetHistogram().GetSampleCount() != 1 {
				t.Errorf("series %v with %d samples", labels, m.GetHistogram().GetSampleCount())
			}
		}
	}
	if series != 4*len(outcomes) {
		t.Errorf("%d provider call series, want one per operation and outcome (%d)", series, 4*len(outcomes))
	}
}

// scriptedData is a scripted connector with a data half.
type scriptedData struct{ scripted }

func (s *scriptedData) Accounts(context.Context, providers.Tokens) ([]providers.AccountRecord, error) {
	s.calls++
	return make([]providers.AccountRecord, 1), s.err
}

func (s *scriptedData) Holdings(context.Context, providers.Tokens) (providers.HoldingsAnswer, error) {
	s.calls++
	return providers.HoldingsAnswer{Holdings: make([]providers.HoldingRecord, 2)}, s.err
}

func (s *scriptedData) Transactions(_ context.Context, _ providers.Tokens, resume []byte) (providers.TransactionPage, error) {
	s.calls++
	return providers.TransactionPage{Resume: append(resume, '+')}, s.err
}

// A connector's data half stays reachable through the wrapper, by the same
// type assertion the sync engine uses, and its calls are reported too; a
// connector without one does not gain one.
func TestWrapKeepsTheDataHalfAndReportsItsCalls(t *testing.T) {
	if _, ok := instrumented.Wrap(&scripted{key: "acme"}, &recorder{}).(providers.DataConnector); ok {
		t.Error("wrapping an authorization-only connector gave it a data half")
	}
	callErr := fmt.Errorf("acme: 429: %w", &providers.RetryAfterError{Delay: time.Minute})
	next, obs := &scriptedData{scripted{key: "acme", err: callErr}}, &recorder{}
	data, ok := instrumented.Wrap(next, obs).(providers.DataConnector)
	if !ok {
		t.Fatal("the wrapper hides the data half")
	}
	ctx := context.Background()
	if got, err := data.Accounts(ctx, providers.Tokens{}); len(got) != 1 || !errors.Is(err, callErr) {
		t.Errorf("Accounts = %v, %v", got, err)
	}
	if got, err := data.Holdings(ctx, providers.Tokens{}); len(got.Holdings) != 2 || !errors.Is(err, callErr) {
		t.Errorf("Holdings = %+v, %v", got, err)
	}
	if got, err := data.Transactions(ctx, providers.Tokens{}, []byte("r")); string(got.Resume) != "r+" || !errors.Is(err, callErr) {
		t.Errorf("Transactions = %+v, %v", got, err)
	}
	want := []string{instrumented.OperationAccounts, instrumented.OperationHoldings, instrumented.OperationTransactions}
	if next.calls != len(want) || len(obs.seen) != len(want) {
		t.Fatalf("%d calls, observed %+v, want one of each of %v", next.calls, obs.seen, want)
	}
	for i, o := range obs.seen {
		if o.provider != "acme" || o.operation != want[i] || !errors.Is(o.err, callErr) {
			t.Errorf("observation %d = %+v, want acme %s %v", i, o, want[i], callErr)
		}
	}
}
