package exports

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/application/audit"
	"github.com/dashtam/dashtam/domain"
)

// Defaults of Config.
const (
	// DefaultTTL is how long a finished export can be downloaded
	// (EXPORT_TTL).
	DefaultTTL = 24 * time.Hour
	// DefaultRowRetention is how long an export's row (its status, without
	// the document) is kept after it finished.
	DefaultRowRetention = 30 * 24 * time.Hour
	// DefaultMaxAttempts is how many runs the job gets before the export
	// is failed.
	DefaultMaxAttempts = 3
	// DefaultPageSize is how many records one keyset page reads.
	DefaultPageSize = 1000
	// DefaultChunkSize is the size of a stored chunk of the compressed
	// document (the last one is smaller).
	DefaultChunkSize = 1 << 20
)

// Format names the document's format and version.
const Format = "dashtam.export.v1"

// Config tunes the service; zero fields take the defaults.
type Config struct {
	TTL          time.Duration
	RowRetention time.Duration
	MaxAttempts  int
	PageSize     int
	ChunkSize    int
}

func (c Config) withDefaults() Config {
	if c.TTL <= 0 {
		c.TTL = DefaultTTL
	}
	if c.RowRetention <= 0 {
		c.RowRetention = DefaultRowRetention
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.PageSize <= 0 {
		c.PageSize = DefaultPageSize
	}
	if c.ChunkSize <= 0 {
		c.ChunkSize = DefaultChunkSize
	}
	return c
}

// Deps are the service's ports.
type Deps struct {
	Store  Store
	Source Source
	Clock  Clock
	Audit  Auditor
	Log    *slog.Logger
}

// Service is the export use cases and the job that writes the documents.
type Service struct {
	d   Deps
	cfg Config
}

// New builds the service.
func New(d Deps, cfg Config) *Service {
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	return &Service{d: d, cfg: cfg.withDefaults()}
}

// TTL is how long a finished export can be downloaded.
func (s *Service) TTL() time.Duration { return s.cfg.TTL }

// Start asks for an export of userID's data: the export, queued, with its job
// enqueued. While another of the user's exports is queued or running it is
// ErrInProgress. Either way the request is audited (user.export).
func (s *Service) Start(ctx context.Context, userID uuid.UUID) (Export, error) {
	e := Export{ID: uuid.Must(uuid.NewV7()), UserID: userID, Status: Queued, CreatedAt: s.d.Clock.Now().UTC()}
	err := s.d.Store.CreateExport(ctx, e, Job{ExportID: e.ID})
	entry := audit.Entry{Action: audit.ActionExport, Actor: userID, Subject: audit.UserSubject(userID)}
	entry.Outcome, entry.Reason = audit.Result(err)
	if errors.Is(err, ErrInProgress) {
		entry.Reason = "in_progress"
	}
	s.d.Audit.Record(ctx, entry)
	if err != nil {
		return Export{}, err
	}
	return e, nil
}

// Get returns one of userID's exports; another user's is domain.ErrNotFound.
func (s *Service) Get(ctx context.Context, userID, id uuid.UUID) (Export, error) {
	e, err := s.d.Store.ExportByID(ctx, id)
	if err != nil {
		return Export{}, err
	}
	if e.UserID != userID {
		return Export{}, fmt.Errorf("export %s: %w", id, domain.ErrNotFound)
	}
	return e, nil
}

// Claim takes userID's one download of the export: it succeeds once, while
// the export is downloadable, and is audited (user.export_download) either
// way. Then Write streams the document.
func (s *Service) Claim(ctx context.Context, userID, id uuid.UUID) (Export, error) {
	e, err := s.d.Store.ClaimDownload(ctx, id, userID, s.d.Clock.Now().UTC())
	if errors.Is(err, domain.ErrNotFound) {
		// Another user's export is not theirs to have tried: no entry
		// names it.
		return Export{}, err
	}
	entry := audit.Entry{Action: audit.ActionExportDownload, Actor: userID, Subject: audit.UserSubject(userID)}
	entry.Outcome, entry.Reason = audit.Result(err)
	switch {
	case errors.Is(err, ErrAlreadyDownloaded):
		entry.Reason = "already_downloaded"
	case errors.Is(err, ErrExpired):
		entry.Reason = "expired"
	case errors.Is(err, ErrNotReady):
		entry.Reason = "not_ready"
	}
	s.d.Audit.Record(ctx, entry)
	return e, err
}

// Write writes the claimed export's document to w, one chunk at a time: the
// stored gzip stream as it is when gzipped, otherwise decompressed on the
// fly. Once all of it is written the chunks are deleted (the retention job
// deletes them otherwise).
func (s *Service) Write(ctx context.Context, e Export, w io.Writer, gzipped bool) error {
	chunks := &chunkReader{ctx: ctx, store: s.d.Store, id: e.ID, n: e.Chunks}
	var err error
	if gzipped {
		_, err = io.Copy(w, chunks)
	} else {
		err = gunzip(w, chunks)
	}
	if err != nil {
		return err
	}
	if err := s.d.Store.DeleteChunks(context.WithoutCancel(ctx), e.ID); err != nil {
		s.d.Log.WarnContext(ctx, "export chunks not deleted after the download; the retention job will",
			"export_id", e.ID.String(), "error", err.Error())
	}
	return nil
}

// chunkReader reads the export's chunks in order, one held at a time.
type chunkReader struct {
	ctx   context.Context
	store Store
	id    uuid.UUID
	n     int
	next  int
	buf   []byte
}

func (r *chunkReader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		if r.next >= r.n {
			return 0, io.EOF
		}
		data, err := r.store.Chunk(r.ctx, r.id, r.next)
		if errors.Is(err, domain.ErrNotFound) {
			// Claimed, so the export exists: its document is what is
			// missing, a fault of ours rather than the caller's 404.
			return 0, fmt.Errorf("export %s: chunk %d of %d is missing", r.id, r.next, r.n)
		}
		if err != nil {
			return 0, err
		}
		r.buf = data
		r.next++
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

// Run is the worker of Job: it writes the export's document, from the start
// on every run (a retried or rescued job first deletes what an earlier run
// wrote). An export gone (its user deleted) ends the job successfully; a
// failure on the last attempt fails the export with a reason word and ends
// the job too.
func (s *Service) Run(ctx context.Context, job Job) error {
	e, err := s.d.Store.StartExport(ctx, job.ExportID, s.d.Clock.Now().UTC())
	if errors.Is(err, domain.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if e.Status != Running {
		return nil // finished by an earlier run
	}
	if e.Attempts > s.cfg.MaxAttempts {
		return s.fail(ctx, e)
	}
	stats, err := s.writeDocument(ctx, e)
	if errors.Is(err, domain.ErrNotFound) {
		return nil // the user, and the export with them, were deleted
	}
	if err != nil {
		if e.Attempts >= s.cfg.MaxAttempts {
			s.d.Log.ErrorContext(ctx, "export failed on its last attempt", "export_id", e.ID.String(),
				"attempt", e.Attempts, "error", err.Error())
			return s.fail(ctx, e)
		}
		return fmt.Errorf("export %s, attempt %d: %w", e.ID, e.Attempts, err)
	}
	now := s.d.Clock.Now().UTC()
	e.Status, e.Size, e.Chunks, e.RecordsWritten, e.Stage = Succeeded, stats.size, stats.chunks, stats.records, "done"
	e.FinishedAt, e.ExpiresAt = now, now.Add(s.cfg.TTL)
	return ignoreGone(s.d.Store.FinishExport(ctx, e))
}

func (s *Service) fail(ctx context.Context, e Export) error {
	e.Status, e.Error, e.FinishedAt = Failed, ReasonInternal, s.d.Clock.Now().UTC()
	return ignoreGone(s.d.Store.FinishExport(context.WithoutCancel(ctx), e))
}

func ignoreGone(err error) error {
	if errors.Is(err, domain.ErrNotFound) {
		return nil
	}
	return err
}

// Purge is the worker of PurgeJob: it deletes the chunks of downloaded and
// expired exports, and the rows of exports finished more than RowRetention
// ago.
func (s *Service) Purge(ctx context.Context, _ PurgeJob) (chunks, rows int64, err error) {
	now := s.d.Clock.Now().UTC()
	return s.d.Store.PurgeExports(ctx, now, now.Add(-s.cfg.RowRetention))
}

// DownloadOpen reports whether e's document can be downloaded now.
func (s *Service) DownloadOpen(e Export) bool { return e.Downloadable(s.d.Clock.Now()) }
