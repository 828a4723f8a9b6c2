package persistence

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/dashtam/dashtam/application/exports"
	"github.com/dashtam/dashtam/application/jobs"
	"github.com/dashtam/dashtam/domain"
)

var _ exports.Store = (*ExportStore)(nil)

// exportRow mirrors migrations/*/00018_exports.sql.
type exportRow struct {
	ID             uuid.UUID  `gorm:"column:id;primaryKey"`
	UserID         uuid.UUID  `gorm:"column:user_id"`
	Status         string     `gorm:"column:status"`
	Stage          string     `gorm:"column:stage"`
	RecordsWritten int64      `gorm:"column:records_written"`
	Attempts       int        `gorm:"column:attempts"`
	Error          string     `gorm:"column:error"`
	Size           int64      `gorm:"column:size"`
	Chunks         int        `gorm:"column:chunks"`
	CreatedAt      time.Time  `gorm:"column:created_at"`
	StartedAt      *time.Time `gorm:"column:started_at"`
	FinishedAt     *time.Time `gorm:"column:finished_at"`
	ExpiresAt      *time.Time `gorm:"column:expires_at"`
	DownloadedAt   *time.Time `gorm:"column:downloaded_at"`
}

func (exportRow) TableName() string { return "exports" }

// exportChunkRow mirrors export_chunks.
type exportChunkRow struct {
	ExportID uuid.UUID `gorm:"column:export_id;primaryKey"`
	Seq      int       `gorm:"column:seq;primaryKey"`
	Data     []byte    `gorm:"column:data"`
}

func (exportChunkRow) TableName() string { return "export_chunks" }

func exportRowOf(e exports.Export) exportRow {
	return exportRow{ID: e.ID, UserID: e.UserID, Status: string(e.Status), Stage: e.Stage, RecordsWritten: e.RecordsWritten,
		Attempts: e.Attempts, Error: e.Error, Size: e.Size, Chunks: e.Chunks, CreatedAt: dbTime(e.CreatedAt),
		StartedAt: nullableTime(e.StartedAt), FinishedAt: nullableTime(e.FinishedAt), ExpiresAt: nullableTime(e.ExpiresAt),
		DownloadedAt: nullableTime(e.DownloadedAt)}
}

func (r exportRow) toApp() exports.Export {
	return exports.Export{ID: r.ID, UserID: r.UserID, Status: exports.Status(r.Status), Stage: r.Stage,
		RecordsWritten: r.RecordsWritten, Attempts: r.Attempts, Error: r.Error, Size: r.Size, Chunks: r.Chunks,
		CreatedAt: r.CreatedAt.UTC(), StartedAt: domainTime(r.StartedAt), FinishedAt: domainTime(r.FinishedAt),
		ExpiresAt: domainTime(r.ExpiresAt), DownloadedAt: domainTime(r.DownloadedAt)}
}

// exportInFlightKey: one export queued or running per user.
var exportInFlightKey = uniqueKey{index: "exports_user_id_in_flight_key", columns: "exports.user_id", err: exports.ErrInProgress}

// ExportStore stores exports and their documents' chunks (exports.Store).
type ExportStore struct {
	db    *DB
	queue JobQueue
}

// NewExportStore returns an ExportStore enqueueing the export jobs on queue.
func NewExportStore(db *DB, queue JobQueue) *ExportStore {
	return &ExportStore{db: db, queue: queue}
}

// CreateExport stores e and enqueues job in one transaction.
func (s *ExportStore) CreateExport(ctx context.Context, e exports.Export, job jobs.Job) error {
	row := exportRowOf(e)
	return s.db.inTx(ctx, "create export", func(tx *gorm.DB) error {
		if err := tx.Create(&row).Error; err != nil {
			return err
		}
		_, err := enqueueTx(ctx, s.queue, tx, job)
		return err
	}, exportInFlightKey)
}

// ExportByID returns the export, or domain.ErrNotFound.
func (s *ExportStore) ExportByID(ctx context.Context, id uuid.UUID) (exports.Export, error) {
	var row exportRow
	if err := s.db.Gorm.WithContext(ctx).Where("id = ?", id).Take(&row).Error; err != nil {
		return exports.Export{}, dbError("export "+id.String(), err)
	}
	return row.toApp(), nil
}

// StartExport begins a run of the export's job (exports.Store).
func (s *ExportStore) StartExport(ctx context.Context, id uuid.UUID, now time.Time) (exports.Export, error) {
	var row exportRow
	err := s.db.inTx(ctx, "start export "+id.String(), func(tx *gorm.DB) error {
		if err := s.db.lockRow(tx, &row, "id = ?", id); err != nil {
			return err
		}
		if !exports.Status(row.Status).InFlight() {
			return nil
		}
		if err := tx.Where("export_id = ?", id).Delete(&exportChunkRow{}).Error; err != nil {
			return err
		}
		started := dbTime(now)
		row.Status, row.Attempts, row.Stage, row.RecordsWritten, row.StartedAt = string(exports.Running), row.Attempts+1, "", 0, &started
		return tx.Model(&exportRow{}).Where("id = ?", id).Updates(map[string]any{
			"status": row.Status, "attempts": row.Attempts, "stage": "", "records_written": 0, "started_at": started,
		}).Error
	})
	if err != nil {
		return exports.Export{}, err
	}
	return row.toApp(), nil
}

// SaveProgress records the running export's progress.
func (s *ExportStore) SaveProgress(ctx context.Context, id uuid.UUID, stage string, records int64) error {
	res := s.db.Gorm.WithContext(ctx).Model(&exportRow{}).Where("id = ?", id).
		Updates(map[string]any{"stage": stage, "records_written": records})
	if res.Error != nil {
		return dbError("save export progress", res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("export %s: %w", id, domain.ErrNotFound)
	}
	return nil
}

// AppendChunk stores one chunk of the export's document.
func (s *ExportStore) AppendChunk(ctx context.Context, id uuid.UUID, seq int, data []byte) error {
	row := exportChunkRow{ExportID: id, Seq: seq, Data: data}
	return dbError("store export chunk", s.db.Gorm.WithContext(ctx).Create(&row).Error)
}

// FinishExport saves the running export's end.
func (s *ExportStore) FinishExport(ctx context.Context, e exports.Export) error {
	return s.db.inTx(ctx, "finish export "+e.ID.String(), func(tx *gorm.DB) error {
		var row exportRow
		if err := s.db.lockRow(tx, &row, "id = ?", e.ID); err != nil {
			return err
		}
		if exports.Status(row.Status) != exports.Running {
			return nil
		}
		if e.Status == exports.Failed {
			if err := tx.Where("export_id = ?", e.ID).Delete(&exportChunkRow{}).Error; err != nil {
				return err
			}
		}
		return tx.Model(&exportRow{}).Where("id = ?", e.ID).Updates(map[string]any{
			"status": string(e.Status), "error": e.Error, "size": e.Size, "chunks": e.Chunks, "stage": e.Stage,
			"records_written": e.RecordsWritten, "finished_at": nullableTime(e.FinishedAt), "expires_at": nullableTime(e.ExpiresAt),
		}).Error
	})
}

// ClaimDownload takes the export's one download (exports.Store): one UPDATE
// whose condition is the whole rule, so two concurrent downloads cannot both
// win; when it changes nothing, the row says why.
func (s *ExportStore) ClaimDownload(ctx context.Context, id, userID uuid.UUID, now time.Time) (exports.Export, error) {
	at := dbTime(now)
	res := s.db.Gorm.WithContext(ctx).Model(&exportRow{}).
		Where("id = ? AND user_id = ? AND status = ? AND downloaded_at IS NULL AND expires_at > ?", id, userID, string(exports.Succeeded), at).
		Update("downloaded_at", at)
	if res.Error != nil {
		return exports.Export{}, dbError("claim export download", res.Error)
	}
	e, err := s.ExportByID(ctx, id)
	if err != nil {
		return exports.Export{}, err
	}
	switch {
	case e.UserID != userID:
		return exports.Export{}, fmt.Errorf("export %s: %w", id, domain.ErrNotFound)
	case res.RowsAffected == 1:
		return e, nil
	case e.Status != exports.Succeeded:
		return e, exports.ErrNotReady
	case !e.DownloadedAt.IsZero():
		return e, exports.ErrAlreadyDownloaded
	default:
		return e, exports.ErrExpired
	}
}

// Chunk returns one chunk of the export's document.
func (s *ExportStore) Chunk(ctx context.Context, id uuid.UUID, seq int) ([]byte, error) {
	var data []byte
	err := s.db.SQL.QueryRowContext(ctx, s.db.bind("SELECT data FROM export_chunks WHERE export_id = ? AND seq = ?"), id, seq).Scan(&data)
	if err != nil {
		return nil, dbError(fmt.Sprintf("export %s chunk %d", id, seq), err)
	}
	return data, nil
}

// DeleteChunks deletes the export's chunks.
func (s *ExportStore) DeleteChunks(ctx context.Context, id uuid.UUID) error {
	return dbError("delete export chunks", s.db.Gorm.WithContext(ctx).Where("export_id = ?", id).Delete(&exportChunkRow{}).Error)
}

// PurgeExports deletes the chunks of downloaded and expired exports and the
// rows of exports finished before rowsBefore.
func (s *ExportStore) PurgeExports(ctx context.Context, now, rowsBefore time.Time) (chunks, rows int64, err error) {
	db := s.db.Gorm.WithContext(ctx)
	res := db.Where("export_id IN (SELECT id FROM exports WHERE downloaded_at IS NOT NULL OR expires_at <= ?)", dbTime(now)).
		Delete(&exportChunkRow{})
	if res.Error != nil {
		return 0, 0, dbError("purge export chunks", res.Error)
	}
	chunks = res.RowsAffected
	res = db.Where("finished_at < ?", dbTime(rowsBefore)).Delete(&exportRow{})
	if res.Error != nil {
		return chunks, 0, dbError("purge exports", res.Error)
	}
	return chunks, res.RowsAffected, nil
}

// errUnknownSection: a section the Source has no reader for.
var errUnknownSection = errors.New("unknown export section")
