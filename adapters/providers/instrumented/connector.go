// Package instrumented times every call a provider connector makes and reports
// it, with how it ended, to an Observer: the service's metrics. Bootstrap wraps
// each connector with Wrap as it builds the registry, so neither the
// connectors nor the use cases need to know about metrics.
package instrumented

import (
	"context"
	"time"

	"github.com/dashtam/dashtam/application/providers"
)

// Observer is told about each connector call: the provider's key, the
// operation (one of the Operation constants), the call's error (nil on
// success) and how long it took. *httpapi.Metrics implements it, so this
// package does not depend on the HTTP adapter.
type Observer interface {
	ObserveProviderCall(provider, operation string, err error, elapsed time.Duration)
}

// Operations, one per Connector and DataConnector method that may call the
// institution.
const (
	OperationBegin        = "begin"
	OperationComplete     = "complete"
	OperationRefresh      = "refresh"
	OperationRevoke       = "revoke"
	OperationAccounts     = "accounts"
	OperationHoldings     = "holdings"
	OperationTransactions = "transactions"
)

// Connector is a providers.Connector that reports every call of the one it
// wraps to an Observer, and otherwise passes calls and results through
// unchanged. It is safe for concurrent use when the wrapped connector and the
// Observer are.
type Connector struct {
	next providers.Connector
	key  string
	obs  Observer
}

var _ providers.Connector = (*Connector)(nil)

// Wrap returns next reporting to obs, labelled with next's provider key. When
// next also has a data half, the result is a *DataConnector, so the sync
// engine's type assertion for providers.DataConnector finds it through the
// wrapper; otherwise it is a *Connector, which has none.
func Wrap(next providers.Connector, obs Observer) providers.Connector {
	c := &Connector{next: next, key: next.Type().Key, obs: obs}
	if data, ok := next.(providers.DataConnector); ok {
		return &DataConnector{Connector: c, data: data}
	}
	return c
}

// Type describes the wrapped connector. It calls no institution, so it is not
// reported.
func (c *Connector) Type() providers.ProviderType { return c.next.Type() }

// Begin starts an attempt with the wrapped connector.
func (c *Connector) Begin(ctx context.Context, req providers.BeginRequest) (providers.BeginResult, error) {
	return timed(c, OperationBegin, func() (providers.BeginResult, error) { return c.next.Begin(ctx, req) })
}

// Complete exchanges a grant with the wrapped connector.
func (c *Connector) Complete(ctx context.Context, grant string) (providers.Tokens, error) {
	return timed(c, OperationComplete, func() (providers.Tokens, error) { return c.next.Complete(ctx, grant) })
}

// Refresh trades tokens with the wrapped connector.
func (c *Connector) Refresh(ctx context.Context, current providers.Tokens) (providers.Tokens, error) {
	return timed(c, OperationRefresh, func() (providers.Tokens, error) { return c.next.Refresh(ctx, current) })
}

// Revoke ends a grant with the wrapped connector.
func (c *Connector) Revoke(ctx context.Context, current providers.Tokens) error {
	_, err := timed(c, OperationRevoke, func() (struct{}, error) { return struct{}{}, c.next.Revoke(ctx, current) })
	return err
}

// DataConnector is a Connector whose wrapped connector also has a data half,
// whose calls it reports the same way.
type DataConnector struct {
	*Connector
	data providers.DataConnector
}

var _ providers.DataConnector = (*DataConnector)(nil)

// Accounts lists accounts with the wrapped connector.
func (c *DataConnector) Accounts(ctx context.Context, tokens providers.Tokens) ([]providers.AccountRecord, error) {
	return timed(c.Connector, OperationAccounts, func() ([]providers.AccountRecord, error) { return c.data.Accounts(ctx, tokens) })
}

// Holdings reads positions with the wrapped connector.
func (c *DataConnector) Holdings(ctx context.Context, tokens providers.Tokens) (providers.HoldingsAnswer, error) {
	return timed(c.Connector, OperationHoldings, func() (providers.HoldingsAnswer, error) { return c.data.Holdings(ctx, tokens) })
}

// Transactions reads a page of changes with the wrapped connector.
func (c *DataConnector) Transactions(ctx context.Context, tokens providers.Tokens, resume []byte) (providers.TransactionPage, error) {
	return timed(c.Connector, OperationTransactions, func() (providers.TransactionPage, error) {
		return c.data.Transactions(ctx, tokens, resume)
	})
}

// timed runs call, one call to the institution, and reports it to c's
// Observer under operation with its error and how long it took.
func timed[T any](c *Connector, operation string, call func() (T, error)) (T, error) {
	start := time.Now()
	out, err := call()
	c.obs.ObserveProviderCall(c.key, operation, err, time.Since(start))
	return out, err
}
