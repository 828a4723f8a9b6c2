package sandbox

import (
	"context"
	"net/http"

	"github.com/dashtam/dashtam/application/providers"
)

// NewWithWrappedInstitution builds a Connector whose in-process transport
// serves wrap(institution), so tests can make the institution fail.
func NewWithWrappedInstitution(cfg Config, wrap func(http.Handler) http.Handler) (*Connector, error) {
	return newConnector(cfg, wrap)
}

// LedgerAt lists every transaction the grant's institution holds at its
// clock's now, straight from the ledger rather than through the paging that
// tests check against it.
func (c *Connector) LedgerAt(tokens providers.Tokens) (map[string]providers.TransactionRecord, error) {
	l, now, err := c.open(context.Background(), tokens)
	if err != nil {
		return nil, err
	}
	out := map[string]providers.TransactionRecord{}
	for d := 0; d <= l.dayOf(now); d++ {
		for k := range l.slots(d) {
			if s := l.slot(d, k); s.existsAt(now) {
				out[s.id] = l.record(s, now)
			}
		}
	}
	return out, nil
}
