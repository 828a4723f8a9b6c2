// Package application groups the use cases, each capability in a package of its
// own (identity, providers, finance) with the ports it needs declared next to it. App is
// the one value the driving adapters (the HTTP API) depend on.
package application

import (
	"github.com/dashtam/dashtam/application/admin"
	"github.com/dashtam/dashtam/application/audit"
	"github.com/dashtam/dashtam/application/datasync"
	"github.com/dashtam/dashtam/application/erasure"
	"github.com/dashtam/dashtam/application/events"
	"github.com/dashtam/dashtam/application/exports"
	"github.com/dashtam/dashtam/application/finance"
	"github.com/dashtam/dashtam/application/identity"
	"github.com/dashtam/dashtam/application/institutionhooks"
	"github.com/dashtam/dashtam/application/providers"
	"github.com/dashtam/dashtam/application/webhooks"
)

// App is every use case of the service, as the composition root wired them.
type App struct {
	// Identity: registration, login, sessions, profile and passwords.
	Identity *identity.Service
	// Providers: the provider catalog and each user's providers.
	Providers *providers.Service
	// Connections: authorizing providers at their institutions, refreshing and
	// revoking their tokens.
	Connections *providers.Connections
	// Finance: reading the caller's accounts, balances, transactions and the
	// transactions' changes feed.
	Finance *finance.Queries
	// Syncs: starting, reading and cancelling the syncs that keep a
	// provider's data current.
	Syncs *datasync.Syncs
	// InstitutionHooks: receiving the webhooks institutions send (Plaid's),
	// verified, recorded and acted on in a job.
	InstitutionHooks *institutionhooks.Service
	// Admin: the operators' use cases (users, their status and role, their
	// sessions and providers), each for active admins only.
	Admin *admin.Service
	// Events: reading the caller's event log, and keeping it to its
	// retention.
	Events *events.Service
	// Audit: the append-only audit log, recording security-relevant actions,
	// listing a user's own entries and keeping it to its retention.
	Audit *audit.Service
	// EventStream fans the log's events out to the streams open on this
	// instance.
	EventStream *events.Hub
	// Webhooks: the caller's webhook endpoints and their deliveries; the
	// dispatcher and the delivery jobs run in the background.
	Webhooks *webhooks.Service
	// Erasure: deleting an account and everything held about its user, by
	// the user or an admin.
	Erasure *erasure.Service
	// Exports: the caller's data exports, written by a background job and
	// downloaded once (docs/exports.md).
	Exports *exports.Service
}
