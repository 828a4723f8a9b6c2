package memory

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"

	exportsapp "github.com/dashtam/dashtam/application/exports"
	"github.com/dashtam/dashtam/application/jobs"
	"github.com/dashtam/dashtam/domain"
)

var (
	_ exportsapp.Store  = (*ExportStore)(nil)
	_ exportsapp.Source = (*ExportSource)(nil)
)

// ExportStore is an in-memory exports.Store with the SQL one's semantics:
// one export in flight per user, jobs enqueued with their export (into
// Queue), chunks deleted on every start and on failure, a download claimed
// once. FailChunks makes AppendChunk fail (a database that is down).
type ExportStore struct {
	Queue *JobQueue

	mu         sync.Mutex
	exports    map[uuid.UUID]exportsapp.Export
	chunks     map[uuid.UUID]map[int][]byte
	FailChunks error
}

// NewExportStore returns an empty store enqueueing on q.
func NewExportStore(q *JobQueue) *ExportStore {
	return &ExportStore{Queue: q, exports: map[uuid.UUID]exportsapp.Export{}, chunks: map[uuid.UUID]map[int][]byte{}}
}

func (s *ExportStore) notFound(id uuid.UUID) error {
	return fmt.Errorf("export %s: %w", id, domain.ErrNotFound)
}

// CreateExport stores e and enqueues job, unless its user has one in flight.
func (s *ExportStore) CreateExport(ctx context.Context, e exportsapp.Export, job jobs.Job) error {
	s.mu.Lock()
	for _, other := range s.exports {
		if other.UserID == e.UserID && other.Status.InFlight() {
			s.mu.Unlock()
			return exportsapp.ErrInProgress
		}
	}
	s.exports[e.ID] = e
	s.mu.Unlock()
	_, err := s.Queue.Enqueue(ctx, job)
	return err
}

// ExportByID returns the export.
func (s *ExportStore) ExportByID(_ context.Context, id uuid.UUID) (exportsapp.Export, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.exports[id]
	if !ok {
		return exportsapp.Export{}, s.notFound(id)
	}
	return e, nil
}

// StartExport begins a run.
func (s *ExportStore) StartExport(_ context.Context, id uuid.UUID, now time.Time) (exportsapp.Export, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.exports[id]
	if !ok {
		return exportsapp.Export{}, s.notFound(id)
	}
	if !e.Status.InFlight() {
		return e, nil
	}
	delete(s.chunks, id)
	e.Status, e.Attempts, e.Stage, e.RecordsWritten, e.StartedAt = exportsapp.Running, e.Attempts+1, "", 0, now
	s.exports[id] = e
	return e, nil
}

// SaveProgress records progress.
func (s *ExportStore) SaveProgress(_ context.Context, id uuid.UUID, stage string, records int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.exports[id]
	if !ok {
		return s.notFound(id)
	}
	e.Stage, e.RecordsWritten = stage, records
	s.exports[id] = e
	return nil
}

// AppendChunk stores a copy of data.
func (s *ExportStore) AppendChunk(_ context.Context, id uuid.UUID, seq int, data []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.FailChunks != nil {
		return s.FailChunks
	}
	if _, ok := s.exports[id]; !ok {
		return s.notFound(id)
	}
	if s.chunks[id] == nil {
		s.chunks[id] = map[int][]byte{}
	}
	if _, dup := s.chunks[id][seq]; dup {
		return fmt.Errorf("chunk %d of export %s stored twice", seq, id)
	}
	s.chunks[id][seq] = slices.Clone(data)
	return nil
}

// FinishExport saves a running export's end.
func (s *ExportStore) FinishExport(_ context.Context, e exportsapp.Export) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	stored, ok := s.exports[e.ID]
	if !ok {
		return s.notFound(e.ID)
	}
	if stored.Status != exportsapp.Running {
		return nil
	}
	if e.Status == exportsapp.Failed {
		delete(s.chunks, e.ID)
	}
	stored.Status, stored.Error, stored.Size, stored.Chunks, stored.Stage = e.Status, e.Error, e.Size, e.Chunks, e.Stage
	stored.RecordsWritten, stored.FinishedAt, stored.ExpiresAt = e.RecordsWritten, e.FinishedAt, e.ExpiresAt
	s.exports[e.ID] = stored
	return nil
}

// ClaimDownload takes the one download.
func (s *ExportStore) ClaimDownload(_ context.Context, id, userID uuid.UUID, now time.Time) (exportsapp.Export, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.exports[id]
	switch {
	case !ok || e.UserID != userID:
		return exportsapp.Export{}, s.notFound(id)
	case e.Downloadable(now):
		e.DownloadedAt = now
		s.exports[id] = e
		return e, nil
	case e.Status != exportsapp.Succeeded:
		return e, exportsapp.ErrNotReady
	case !e.DownloadedAt.IsZero():
		return e, exportsapp.ErrAlreadyDownloaded
	default:
		return e, exportsapp.ErrExpired
	}
}

// Chunk returns one chunk.
func (s *ExportStore) Chunk(_ context.Context, id uuid.UUID, seq int) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	data, ok := s.chunks[id][seq]
	if !ok {
		return nil, fmt.Errorf("chunk %d: %w", seq, s.notFound(id))
	}
	return data, nil
}

// DeleteChunks deletes the export's chunks.
func (s *ExportStore) DeleteChunks(_ context.Context, id uuid.UUID) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.chunks, id)
	return nil
}

// PurgeExports deletes downloaded and expired exports' chunks and old rows.
func (s *ExportStore) PurgeExports(_ context.Context, now, rowsBefore time.Time) (chunks, rows int64, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, e := range s.exports {
		if !e.DownloadedAt.IsZero() || (!e.ExpiresAt.IsZero() && !e.ExpiresAt.After(now)) {
			chunks += int64(len(s.chunks[id]))
			delete(s.chunks, id)
		}
		if !e.FinishedAt.IsZero() && e.FinishedAt.Before(rowsBefore) {
			chunks += int64(len(s.chunks[id]))
			delete(s.chunks, id)
			delete(s.exports, id)
			rows++
		}
	}
	return chunks, rows, nil
}

// ChunkCount returns how many chunks the export has stored.
func (s *ExportStore) ChunkCount(id uuid.UUID) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.chunks[id])
}

// Delete deletes the export, as deleting its user does.
func (s *ExportStore) Delete(id uuid.UUID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.exports, id)
	delete(s.chunks, id)
}

// ExportSource is an in-memory exports.Source: each user's profile and
// sections as records, paged by position (the cursor is the index of the
// next record). Fail, when set, fails every read of that section.
type ExportSource struct {
	mu       sync.Mutex
	profiles map[uuid.UUID]exportsapp.Record
	sections map[uuid.UUID]map[exportsapp.Section][]exportsapp.Record
	Fail     map[exportsapp.Section]error
}

// NewExportSource returns an empty source.
func NewExportSource() *ExportSource {
	return &ExportSource{profiles: map[uuid.UUID]exportsapp.Record{},
		sections: map[uuid.UUID]map[exportsapp.Section][]exportsapp.Record{}, Fail: map[exportsapp.Section]error{}}
}

// SetProfile stores the user's profile.
func (s *ExportSource) SetProfile(userID uuid.UUID, r exportsapp.Record) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.profiles[userID] = r
}

// Add appends records to the user's section.
func (s *ExportSource) Add(userID uuid.UUID, section exportsapp.Section, records ...exportsapp.Record) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sections[userID] == nil {
		s.sections[userID] = map[exportsapp.Section][]exportsapp.Record{}
	}
	s.sections[userID][section] = append(s.sections[userID][section], records...)
}

// Profile returns the user's profile.
func (s *ExportSource) Profile(_ context.Context, userID uuid.UUID) (exportsapp.Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.profiles[userID]
	if !ok {
		return nil, fmt.Errorf("user %s: %w", userID, domain.ErrNotFound)
	}
	return r, nil
}

// ReadSection returns one page.
func (s *ExportSource) ReadSection(_ context.Context, userID uuid.UUID, section exportsapp.Section, after exportsapp.Cursor,
	limit int,
) ([]exportsapp.Record, exportsapp.Cursor, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.Fail[section]; err != nil {
		return nil, nil, err
	}
	all := s.sections[userID][section]
	from := 0
	if len(after) == 1 {
		from = after[0].(int)
	}
	to := min(from+limit, len(all))
	return slices.Clone(all[from:to]), exportsapp.Cursor{to}, nil
}
