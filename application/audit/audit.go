// Package audit keeps the append-only audit log: who did what security-
// relevant thing to what, when, from where, and how it ended. It is a record
// of its own, apart from the event log (application/events): the event log
// tells a user's clients what changed and is kept for days; the audit log
// tells the user and the operators who acted, failures included, and is kept
// for AUDIT_RETENTION (a year by default). docs/operations.md lists the
// vocabulary.
//
// Use cases record through Service.Record, each declaring the small port it
// needs (an Auditor with that one method). An entry is written in its own
// insert, after the action: a failure (a wrong password) has no transaction
// to join. Recording fails open: an entry that cannot be written is logged
// at error level and counted (WriteFailures), and the user's action stands.
package audit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Action is what was done: one of the fixed vocabulary below.
type Action string

// The vocabulary (docs/operations.md, "Audit log").
const (
	ActionLogin                Action = "auth.login"
	ActionLogout               Action = "auth.logout"
	ActionPasswordChange       Action = "auth.password_change"
	ActionPasswordReset        Action = "auth.password_reset"
	ActionSessionRevoke        Action = "auth.session_revoke"
	ActionEmailVerify          Action = "auth.email_verify"
	ActionProviderCreate       Action = "provider.create"
	ActionProviderDelete       Action = "provider.delete"
	ActionAuthorizationGrant   Action = "authorization.grant"
	ActionAuthorizationRefresh Action = "authorization.refresh"
	ActionAuthorizationRevoke  Action = "authorization.revoke"
	ActionSyncStart            Action = "sync.start"
	ActionAdminUserUpdate      Action = "admin.user_update"
	ActionAdminSessionsRevoke  Action = "admin.sessions_revoke"
	ActionAdminRoleSet         Action = "admin.role_set"
	ActionAdminDenied          Action = "admin.access_denied"
	ActionExport               Action = "user.export"
	ActionExportDownload       Action = "user.export_download"
	ActionDeletion             Action = "user.delete"
)

// Actions is the whole vocabulary, in the order it is documented.
var Actions = []Action{
	ActionLogin, ActionLogout, ActionPasswordChange, ActionPasswordReset, ActionSessionRevoke, ActionEmailVerify,
	ActionProviderCreate, ActionProviderDelete, ActionAuthorizationGrant, ActionAuthorizationRefresh,
	ActionAuthorizationRevoke, ActionSyncStart, ActionAdminUserUpdate, ActionAdminSessionsRevoke,
	ActionAdminRoleSet, ActionAdminDenied, ActionExport, ActionExportDownload, ActionDeletion,
}

// ParseAction returns the action named s, or false.
func ParseAction(s string) (Action, bool) {
	for _, a := range Actions {
		if string(a) == s {
			return a, true
		}
	}
	return "", false
}

// Outcome is how an action ended.
type Outcome string

// Outcomes.
const (
	Success Outcome = "success"
	Failure Outcome = "failure"
)

// Subject types: what an entry is about.
const (
	SubjectUser          = "user"
	SubjectSession       = "session"
	SubjectProvider      = "provider"
	SubjectAuthorization = "authorization"
	SubjectSync          = "sync"
	// SubjectEmailHash is an address no account has (a failed login): its
	// id is EmailHash of the address, never the address.
	SubjectEmailHash = "email_sha256"
	// SubjectAdminOperation is an operators' use case a non-admin called:
	// its id is the use case's name (list_users, update_user, ...).
	SubjectAdminOperation = "admin_operation"
)

// Subject is what an entry is about.
type Subject struct {
	Type string
	ID   string
}

// UserSubject is the subject of a user.
func UserSubject(id uuid.UUID) Subject { return Of(SubjectUser, id) }

// Of returns the subject of type typ and id; uuid.Nil (an action that failed
// before it knew its subject) is an empty id.
func Of(typ string, id uuid.UUID) Subject {
	if id == uuid.Nil {
		return Subject{Type: typ}
	}
	return Subject{Type: typ, ID: id.String()}
}

// EmailHash is the subject id of an address: the hex SHA-256 of its trimmed,
// lower-cased form. It lets an operator see repeated attempts on one address
// and check a suspected address, without the log holding any.
func EmailHash(address string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(strings.TrimSpace(address))))
	return hex.EncodeToString(sum[:])
}

// writeTimeout bounds the insert of one entry.
const writeTimeout = 5 * time.Second

// MaxUserAgent is how many bytes of a user agent an entry keeps.
const MaxUserAgent = 256

// Entry is one line of the audit log.
type Entry struct {
	ID         uuid.UUID
	OccurredAt time.Time
	// Actor is the user who acted; uuid.Nil is no one (an anonymous caller,
	// the system).
	Actor   uuid.UUID
	Subject Subject
	Action  Action
	Outcome Outcome
	// Reason is a short code for a failure (invalid_credentials,
	// user_disabled, ...): never a message that could carry input.
	Reason    string
	RequestID string
	ClientIP  string
	UserAgent string
}

// Request describes the request an action came with: the HTTP adapter puts
// it on the context (WithRequest), Record takes it from there.
type Request struct {
	ID        string
	ClientIP  string
	UserAgent string
}

type requestKey struct{}

// WithRequest returns ctx carrying r.
func WithRequest(ctx context.Context, r Request) context.Context {
	return context.WithValue(ctx, requestKey{}, r)
}

// RequestFrom returns the request ctx carries (zero when none).
func RequestFrom(ctx context.Context) Request {
	r, _ := ctx.Value(requestKey{}).(Request)
	return r
}

// truncate cuts s to at most n bytes, on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

// Clock tells the time.
type Clock interface {
	Now() time.Time
}

// Query selects audit entries, newest first.
type Query struct {
	// Owner, when set, keeps the entries a user made or that are about them
	// (GET /users/me/audit-events).
	Owner uuid.UUID
	// Actor, when set, keeps the entries that user made.
	Actor uuid.UUID
	// Subject keeps the entries about it: its Type alone, or Type and ID.
	Subject Subject
	Action  Action
	// From and To, when set, keep what occurred at or after From and before To.
	From, To time.Time
	// Before, when set, keeps the entries with ids below it (the cursor:
	// ids are UUIDv7, so they order by time).
	Before uuid.UUID
	Limit  int
}

// Store writes, reads and purges the audit log.
type Store interface {
	AppendAuditEvent(ctx context.Context, e Entry) error
	// ListAuditEvents returns at most q.Limit entries matching q, newest
	// (highest id) first.
	ListAuditEvents(ctx context.Context, q Query) ([]Entry, error)
	// PurgeAuditEvents deletes the entries that occurred before now minus
	// retention, and returns how many.
	PurgeAuditEvents(ctx context.Context, now time.Time, retention time.Duration) (int64, error)
}

// DefaultRetention is how long entries are kept when AUDIT_RETENTION is unset.
const DefaultRetention = 365 * 24 * time.Hour

// MinRetention is the shortest retention: the stores refuse to delete an
// entry younger than it, whoever asks (migrations/*/00017).
const MinRetention = 30 * 24 * time.Hour

// Service records, lists and purges the audit log.
type Service struct {
	store     Store
	clock     Clock
	log       *slog.Logger
	retention time.Duration
	failures  atomic.Int64
}

// NewService returns the audit log on store, keeping entries for retention
// (DefaultRetention when not positive; never below MinRetention).
func NewService(store Store, clock Clock, log *slog.Logger, retention time.Duration) *Service {
	if retention <= 0 {
		retention = DefaultRetention
	}
	retention = max(retention, MinRetention)
	return &Service{store: store, clock: clock, log: log, retention: retention}
}

// Retention returns how long entries are kept.
func (s *Service) Retention() time.Duration { return s.retention }

// WriteFailures returns how many entries could not be written since start.
func (s *Service) WriteFailures() int64 { return s.failures.Load() }

// Record writes e, stamped with an id, the time and the request on ctx. It
// never fails the caller: an entry that cannot be written is logged (without
// its client details) and counted.
func (s *Service) Record(ctx context.Context, e Entry) {
	if s == nil {
		return
	}
	id, err := uuid.NewV7()
	if err != nil {
		id = uuid.New()
	}
	r := RequestFrom(ctx)
	e.ID, e.OccurredAt = id, s.clock.Now().UTC()
	e.RequestID, e.ClientIP, e.UserAgent = truncate(r.ID, 128), truncate(r.ClientIP, 64), truncate(r.UserAgent, MaxUserAgent)
	e.Reason = truncate(e.Reason, 64)
	if e.Outcome == "" {
		e.Outcome = Success
	}
	// The action was taken or refused already: a cancelled request must not
	// lose its record, and a hung database must not hold the caller longer
	// than writeTimeout, nor past the caller's own deadline (a request
	// answers within REQUEST_TIMEOUT even while the database hangs; an entry
	// that cannot be written by then is counted and logged, like any other).
	timeout := writeTimeout
	if deadline, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(deadline))
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	if err := s.store.AppendAuditEvent(wctx, e); err != nil {
		s.failures.Add(1)
		if s.log != nil {
			s.log.ErrorContext(ctx, "audit entry not written", "action", string(e.Action), "outcome", string(e.Outcome),
				"subject_type", e.Subject.Type, "error", err)
		}
	}
}

// PurgeJob is the periodic job that deletes the entries past retention.
type PurgeJob struct{}

// Kind names the job for the job engine.
func (PurgeJob) Kind() string { return "audit_retention" }

// Purge deletes the entries older than the retention (the audit_retention
// job runs it) and returns how many.
func (s *Service) Purge(ctx context.Context, _ PurgeJob) (int64, error) {
	return s.store.PurgeAuditEvents(ctx, s.clock.Now(), s.retention)
}
