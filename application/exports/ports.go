// Package exports is the self-service data export (docs/exports.md): a user
// asks for everything Dashtam holds about them, a background job writes it as
// one JSON document, gzip-compressed, into chunks of about a megabyte, and the
// user downloads it once, within EXPORT_TTL. Nothing ever holds the whole
// document: the job reads the data in keyset pages and writes as it reads,
// and the download reads one chunk at a time.
package exports

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/application/audit"
	"github.com/dashtam/dashtam/application/jobs"
	"github.com/dashtam/dashtam/domain"
)

// Status is where an export stands.
type Status string

// Export statuses.
const (
	Queued    Status = "queued"
	Running   Status = "running"
	Succeeded Status = "succeeded"
	Failed    Status = "failed"
)

// InFlight reports whether the export's job has yet to finish.
func (s Status) InFlight() bool { return s == Queued || s == Running }

// Failure reasons: the words an export that failed shows, never an error's
// text.
const (
	// ReasonInternal: the job kept failing (the database, a bug) until its
	// last attempt.
	ReasonInternal = "internal_error"
)

// Export is one export job and the document it wrote.
type Export struct {
	ID     uuid.UUID
	UserID uuid.UUID
	Status Status
	// Stage is the section the running job is writing (or wrote last);
	// RecordsWritten how many records it has written so far.
	Stage          string
	RecordsWritten int64
	// Attempts counts the job's runs (retries and rescues included).
	Attempts int
	// Error is the reason word of a failed export.
	Error string
	// Size is the stored document's size in bytes (gzip-compressed), Chunks
	// how many chunks hold it.
	Size   int64
	Chunks int
	// The times; zero when not (yet) reached. ExpiresAt is set when the
	// export succeeds.
	CreatedAt, StartedAt, FinishedAt, ExpiresAt, DownloadedAt time.Time
}

// Downloadable reports whether the document can be downloaded at now:
// succeeded, not downloaded yet, not expired.
func (e Export) Downloadable(now time.Time) bool {
	return e.Status == Succeeded && e.DownloadedAt.IsZero() && now.Before(e.ExpiresAt)
}

// Errors of the use cases.
var (
	// ErrInProgress: the user already has an export queued or running.
	ErrInProgress = fmt.Errorf("an export of this user is already in progress: %w", domain.ErrConflict)
	// ErrNotReady: a download of an export that has not succeeded (still
	// running, or failed).
	ErrNotReady = fmt.Errorf("the export has not succeeded: %w", domain.ErrConflict)
	// ErrAlreadyDownloaded: the export's one download was made.
	ErrAlreadyDownloaded = errors.New("the export was already downloaded")
	// ErrExpired: the export's download window (EXPORT_TTL) is over.
	ErrExpired = errors.New("the export expired")
)

// Job writes one export's document (Service.Run).
type Job struct {
	ExportID uuid.UUID `json:"export_id"`
}

// Kind names the job's worker.
func (Job) Kind() string { return "user_export" }

// SingleFlight: one job per export at a time.
func (Job) SingleFlight() {}

// PurgeJob is the periodic clean-up (Service.Purge): the chunks of exports
// downloaded or expired, and the rows of exports finished long ago.
type PurgeJob struct{}

// Kind names the job's worker.
func (PurgeJob) Kind() string { return "export_retention" }

// Store stores exports and their documents' chunks.
type Store interface {
	// CreateExport stores e, queued, and enqueues job in the same
	// transaction. A user with an export queued or running is
	// ErrInProgress (a unique index decides between concurrent requests).
	CreateExport(ctx context.Context, e Export, job jobs.Job) error
	// ExportByID returns the export, or domain.ErrNotFound.
	ExportByID(ctx context.Context, id uuid.UUID) (Export, error)
	// StartExport begins a run of the export's job: a queued or running
	// export becomes running, its attempts grow by one, its progress starts
	// over and the chunks of an earlier run are deleted, in one
	// transaction. A finished export is returned as it is, unchanged. An
	// unknown export is domain.ErrNotFound.
	StartExport(ctx context.Context, id uuid.UUID, now time.Time) (Export, error)
	// SaveProgress records the running export's stage and records written.
	// An export gone (its user deleted) is domain.ErrNotFound.
	SaveProgress(ctx context.Context, id uuid.UUID, stage string, records int64) error
	// AppendChunk stores chunk seq of the export's document. data is only
	// read during the call. An export gone is domain.ErrNotFound.
	AppendChunk(ctx context.Context, id uuid.UUID, seq int, data []byte) error
	// FinishExport saves the running export's end as e has it (status,
	// error, size, chunks, stage, records, finished and expiry times); a
	// failed one loses its chunks. An export no longer running is left
	// alone; one gone is domain.ErrNotFound.
	FinishExport(ctx context.Context, e Export) error
	// ClaimDownload marks the export downloaded at now, atomically, if it
	// is userID's, succeeded, not downloaded yet and not expired at now, and
	// returns it. Otherwise nothing changes and the error says why:
	// domain.ErrNotFound (unknown, or another user's), ErrNotReady,
	// ErrAlreadyDownloaded or ErrExpired.
	ClaimDownload(ctx context.Context, id, userID uuid.UUID, now time.Time) (Export, error)
	// Chunk returns chunk seq of the export's document, or
	// domain.ErrNotFound.
	Chunk(ctx context.Context, id uuid.UUID, seq int) ([]byte, error)
	// DeleteChunks deletes the export's chunks.
	DeleteChunks(ctx context.Context, id uuid.UUID) error
	// PurgeExports deletes the chunks of every export downloaded or
	// expired at now, and the exports finished before rowsBefore (their
	// chunks with them).
	PurgeExports(ctx context.Context, now, rowsBefore time.Time) (chunks, rows int64, err error)
}

// Section names one collection of the document.
type Section string

// The document's collections, in the order they are written
// (docs/exports.md describes each one's fields).
const (
	Sessions         Section = "sessions"
	Providers        Section = "providers"
	Accounts         Section = "accounts"
	Balances         Section = "balances"
	Securities       Section = "securities"
	Holdings         Section = "holdings"
	Transactions     Section = "transactions"
	Syncs            Section = "syncs"
	WebhookEndpoints Section = "webhook_endpoints"
	Events           Section = "events"
	AuditEvents      Section = "audit_events"
)

// Sections lists every collection, in the document's order.
var Sections = []Section{Sessions, Providers, Accounts, Balances, Securities, Holdings, Transactions, Syncs,
	WebhookEndpoints, Events, AuditEvents}

// Field is one named value of a record. Value is nil (null), a string, an
// int64, a bool, a time.Time (written in RFC 3339, UTC), a Decimal or a
// json.RawMessage (a stored JSON document, written as it is).
type Field struct {
	Name  string
	Value any
}

// Decimal is an exact decimal number as text ("-42.50"), written as a JSON
// string: money is never a float.
type Decimal string

// Record is one object of the document, its fields in order.
type Record []Field

// Cursor is where a section's next page starts: opaque to the use cases,
// made and read by the Source. nil is the start.
type Cursor []any

// Source reads what the document holds. Each section's reader selects the
// fields that may be exported, never a secret (a token, a hash, a key, an
// institution's ids, a full account number): docs/exports.md lists them.
type Source interface {
	// Profile returns the user's own record, or domain.ErrNotFound.
	Profile(ctx context.Context, userID uuid.UUID) (Record, error)
	// ReadSection returns at most limit of the user's records of section
	// after cursor, in a stable order (a keyset page), and the cursor just
	// after the last one. Fewer than limit records means the section ends.
	ReadSection(ctx context.Context, userID uuid.UUID, section Section, after Cursor, limit int) ([]Record, Cursor, error)
}

// Auditor records the exports asked for and downloaded (audit.Service).
type Auditor interface {
	Record(ctx context.Context, e audit.Entry)
}

// Clock tells the time.
type Clock interface{ Now() time.Time }
