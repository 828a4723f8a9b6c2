package exports_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/application/audit"
	"github.com/dashtam/dashtam/application/exports"
	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/test/fakes/fakeclock"
	"github.com/dashtam/dashtam/test/fakes/memory"
)

type harness struct {
	svc    *exports.Service
	store  *memory.ExportStore
	source *memory.ExportSource
	queue  *memory.JobQueue
	clock  *fakeclock.Clock
	audit  *memory.AuditLog
}

func newHarness(t *testing.T, cfg exports.Config) *harness {
	t.Helper()
	h := &harness{queue: &memory.JobQueue{}, source: memory.NewExportSource(), clock: fakeclock.New(time.Now()),
		audit: memory.NewAuditLog()}
	h.store = memory.NewExportStore(h.queue)
	auditLog := audit.NewService(h.audit, h.clock, nil, audit.DefaultRetention)
	h.svc = exports.New(exports.Deps{Store: h.store, Source: h.source, Clock: h.clock, Audit: auditLog}, cfg)
	return h
}

// user adds a user with a profile and n transactions.
func (h *harness) user(n int) uuid.UUID {
	id := uuid.Must(uuid.NewV7())
	h.source.SetProfile(id, exports.Record{{Name: "id", Value: id.String()}, {Name: "email", Value: "ann@example.com"}})
	for i := range n {
		h.source.Add(id, exports.Transactions, transaction(i))
	}
	h.source.Add(id, exports.Accounts, exports.Record{{Name: "id", Value: "acct"}, {Name: "mask", Value: "1234"}})
	h.source.Add(id, exports.Events, exports.Record{{Name: "id", Value: int64(7)}, {Name: "data", Value: json.RawMessage(`{"a":1}`)}})
	return id
}

func transaction(i int) exports.Record {
	return exports.Record{
		{Name: "id", Value: fmt.Sprintf("tx-%07d", i)},
		{Name: "amount", Value: exports.Decimal(fmt.Sprintf("-%d.%02d", i%1000, i%100))},
		{Name: "currency", Value: "USD"},
		{Name: "date", Value: "2026-03-01"},
		{Name: "description", Value: fmt.Sprintf("COFFEE \"SHOP\" #%d\n", i)},
		{Name: "removed_at", Value: nil},
		{Name: "pending", Value: i%2 == 0},
		{Name: "created_at", Value: time.Date(2026, 3, 1, 12, 0, 0, 5000, time.UTC)},
		{Name: "feed_position", Value: int64(i + 1)},
	}
}

// runJobs runs every queued export job, returning the errors.
func (h *harness) runJobs(ctx context.Context) []error {
	var errs []error
	for _, j := range h.queue.Take() {
		errs = append(errs, h.svc.Run(ctx, j.(exports.Job)))
	}
	return errs
}

type document struct {
	Format       string           `json:"format"`
	ExportID     string           `json:"export_id"`
	GeneratedAt  time.Time        `json:"generated_at"`
	User         map[string]any   `json:"user"`
	Accounts     []map[string]any `json:"accounts"`
	Transactions []map[string]any `json:"transactions"`
	Events       []map[string]any `json:"events"`
	AuditEvents  []map[string]any `json:"audit_events"`
}

func (h *harness) download(t *testing.T, userID, id uuid.UUID, gzipped bool) []byte {
	t.Helper()
	ctx := context.Background()
	e, err := h.svc.Claim(ctx, userID, id)
	if err != nil {
		t.Fatalf("claim: %v", err)
	}
	var buf bytes.Buffer
	if err := h.svc.Write(ctx, e, &buf, gzipped); err != nil {
		t.Fatalf("write: %v", err)
	}
	return buf.Bytes()
}

func TestStartQueuesOneExportPerUser(t *testing.T) {
	h := newHarness(t, exports.Config{})
	ctx := context.Background()
	ann := h.user(0)
	e, err := h.svc.Start(ctx, ann)
	if err != nil || e.Status != exports.Queued || e.UserID != ann {
		t.Fatalf("start = %+v, %v", e, err)
	}
	if _, err := h.svc.Start(ctx, ann); !errors.Is(err, exports.ErrInProgress) || !errors.Is(err, domain.ErrConflict) {
		t.Fatalf("second start = %v, want ErrInProgress", err)
	}
	if jobs := h.queue.Take(); len(jobs) != 1 || jobs[0].(exports.Job).ExportID != e.ID {
		t.Fatalf("queued %v", jobs)
	}
	entries := h.audit.All()
	if len(entries) != 2 || entries[0].Action != audit.ActionExport || entries[0].Outcome != audit.Success ||
		entries[1].Outcome != audit.Failure || entries[1].Reason != "in_progress" || entries[1].Subject != audit.UserSubject(ann) {
		t.Fatalf("audit %+v", entries)
	}
	// Once the first has finished, another may start.
	if err := h.svc.Run(ctx, exports.Job{ExportID: e.ID}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.Start(ctx, ann); err != nil {
		t.Fatalf("start after the first finished: %v", err)
	}
}

func TestRunWritesTheDocumentInChunksDownloadableOnce(t *testing.T) {
	h := newHarness(t, exports.Config{PageSize: 100, ChunkSize: 4096, TTL: time.Hour})
	ctx := context.Background()
	ann := h.user(2500)
	e, _ := h.svc.Start(ctx, ann)
	if errs := h.runJobs(ctx); len(errs) != 1 || errs[0] != nil {
		t.Fatalf("run: %v", errs)
	}
	e, _ = h.svc.Get(ctx, ann, e.ID)
	if e.Status != exports.Succeeded || e.Chunks < 2 || h.store.ChunkCount(e.ID) != e.Chunks || e.RecordsWritten != 2502 ||
		e.Stage != "done" || !e.ExpiresAt.Equal(e.FinishedAt.Add(time.Hour)) || e.Attempts != 1 || !h.svc.DownloadOpen(e) {
		t.Fatalf("export %+v (%d chunks stored)", e, h.store.ChunkCount(e.ID))
	}
	if _, err := h.svc.Get(ctx, uuid.Must(uuid.NewV7()), e.ID); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("another user's get = %v", err)
	}
	if _, err := h.svc.Claim(ctx, uuid.Must(uuid.NewV7()), e.ID); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("another user's claim = %v", err)
	}

	plain := h.download(t, ann, e.ID, false)
	var doc document
	if err := json.Unmarshal(plain, &doc); err != nil {
		t.Fatalf("document does not parse: %v\n%.300s", err, plain)
	}
	if doc.Format != exports.Format || doc.ExportID != e.ID.String() || doc.User["email"] != "ann@example.com" ||
		len(doc.Transactions) != 2500 || len(doc.Accounts) != 1 || len(doc.Events) != 1 || doc.AuditEvents == nil {
		t.Fatalf("document %.500s", plain)
	}
	first := doc.Transactions[0]
	if first["id"] != "tx-0000000" || first["amount"] != "-0.00" || first["removed_at"] != nil || first["pending"] != true ||
		first["created_at"] != "2026-03-01T12:00:00.000005Z" || first["description"] != "COFFEE \"SHOP\" #0\n" ||
		first["feed_position"] != float64(1) {
		t.Fatalf("first transaction %v", first)
	}
	if doc.Transactions[2499]["id"] != "tx-0002499" || doc.Events[0]["data"].(map[string]any)["a"] != float64(1) {
		t.Fatalf("last transaction %v, event %v", doc.Transactions[2499], doc.Events[0])
	}
	if h.store.ChunkCount(e.ID) != 0 {
		t.Fatal("the chunks outlived the download")
	}
	if _, err := h.svc.Claim(ctx, ann, e.ID); !errors.Is(err, exports.ErrAlreadyDownloaded) {
		t.Fatalf("second claim = %v", err)
	}
	entries := h.audit.All()
	last := entries[len(entries)-1]
	if last.Action != audit.ActionExportDownload || last.Outcome != audit.Failure || last.Reason != "already_downloaded" ||
		entries[len(entries)-2].Outcome != audit.Success {
		t.Fatalf("audit %+v", entries)
	}
}

func TestGzipDownloadIsTheStoredStream(t *testing.T) {
	h := newHarness(t, exports.Config{PageSize: 10, ChunkSize: 1024})
	ctx := context.Background()
	ann := h.user(300)
	e, _ := h.svc.Start(ctx, ann)
	h.runJobs(ctx)
	e, _ = h.svc.Get(ctx, ann, e.ID)
	compressed := h.download(t, ann, e.ID, true)
	if int64(len(compressed)) != e.Size {
		t.Fatalf("%d bytes sent, %d stored", len(compressed), e.Size)
	}
	zr, err := gzip.NewReader(bytes.NewReader(compressed))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(zr)
	var doc document
	if err != nil || json.Unmarshal(plain, &doc) != nil || len(doc.Transactions) != 300 {
		t.Fatalf("gzip stream: %v, %d transactions", err, len(doc.Transactions))
	}
}

func TestDownloadRefusals(t *testing.T) {
	h := newHarness(t, exports.Config{TTL: time.Hour})
	ctx := context.Background()
	ann := h.user(3)
	e, _ := h.svc.Start(ctx, ann)
	if _, err := h.svc.Claim(ctx, ann, e.ID); !errors.Is(err, exports.ErrNotReady) {
		t.Fatalf("claim of a queued export = %v", err)
	}
	h.runJobs(ctx)
	h.clock.Advance(time.Hour)
	e, _ = h.svc.Get(ctx, ann, e.ID)
	if h.svc.DownloadOpen(e) {
		t.Fatal("an expired export is open for download")
	}
	if _, err := h.svc.Claim(ctx, ann, e.ID); !errors.Is(err, exports.ErrExpired) {
		t.Fatalf("claim of an expired export = %v", err)
	}
	entries := h.audit.All()
	if r := entries[len(entries)-1].Reason; r != "expired" {
		t.Fatalf("reason %q", r)
	}
}

func TestRunFailsOnItsLastAttemptWithAReasonWord(t *testing.T) {
	h := newHarness(t, exports.Config{MaxAttempts: 3})
	ctx := context.Background()
	ann := h.user(10)
	e, _ := h.svc.Start(ctx, ann)
	h.queue.Take()
	h.store.FailChunks = errors.New("disk full at /var/lib/postgres (secret detail)")
	for attempt := 1; attempt <= 2; attempt++ {
		if err := h.svc.Run(ctx, exports.Job{ExportID: e.ID}); err == nil {
			t.Fatalf("attempt %d succeeded", attempt)
		}
		if got, _ := h.svc.Get(ctx, ann, e.ID); got.Status != exports.Running || got.Attempts != attempt {
			t.Fatalf("after attempt %d: %+v", attempt, got)
		}
	}
	if err := h.svc.Run(ctx, exports.Job{ExportID: e.ID}); err != nil {
		t.Fatalf("the last attempt returned %v: the job would retry", err)
	}
	got, _ := h.svc.Get(ctx, ann, e.ID)
	if got.Status != exports.Failed || got.Error != exports.ReasonInternal || got.FinishedAt.IsZero() || h.svc.DownloadOpen(got) {
		t.Fatalf("failed export %+v", got)
	}
	// A rescued run after the end changes nothing.
	if err := h.svc.Run(ctx, exports.Job{ExportID: e.ID}); err != nil {
		t.Fatal(err)
	}
	if again, _ := h.svc.Get(ctx, ann, e.ID); again != got {
		t.Fatalf("a late run changed the failed export: %+v", again)
	}
}

func TestRetryRewritesTheDocumentFromTheStart(t *testing.T) {
	h := newHarness(t, exports.Config{PageSize: 50, ChunkSize: 128})
	ctx := context.Background()
	ann := h.user(4000)
	e, _ := h.svc.Start(ctx, ann)
	h.queue.Take()
	h.source.Fail[exports.Events] = errors.New("connection reset")
	if err := h.svc.Run(ctx, exports.Job{ExportID: e.ID}); err == nil {
		t.Fatal("a failed read succeeded")
	}
	if h.store.ChunkCount(e.ID) == 0 {
		t.Fatal("the failed run wrote no chunk: the test proves nothing")
	}
	delete(h.source.Fail, exports.Events)
	// The memory store refuses a chunk stored twice: the retry must have
	// deleted the first run's.
	if err := h.svc.Run(ctx, exports.Job{ExportID: e.ID}); err != nil {
		t.Fatalf("retry: %v", err)
	}
	var doc document
	if err := json.Unmarshal(h.download(t, ann, e.ID, false), &doc); err != nil || len(doc.Transactions) != 4000 {
		t.Fatalf("retried document: %v, %d transactions", err, len(doc.Transactions))
	}
}

func TestRunOfAnExportWhoseUserWasDeletedEnds(t *testing.T) {
	h := newHarness(t, exports.Config{})
	ctx := context.Background()
	ann := h.user(5)
	e, _ := h.svc.Start(ctx, ann)
	h.queue.Take()
	h.store.Delete(e.ID)
	if err := h.svc.Run(ctx, exports.Job{ExportID: e.ID}); err != nil {
		t.Fatalf("run of a deleted export = %v, want nil (no retry)", err)
	}
	// Deleted while it runs: the reads find the user gone.
	bob := h.user(5)
	e2, _ := h.svc.Start(ctx, bob)
	h.queue.Take()
	h.source.Fail[exports.Transactions] = fmt.Errorf("user %s: %w", bob, domain.ErrNotFound)
	if err := h.svc.Run(ctx, exports.Job{ExportID: e2.ID}); err != nil {
		t.Fatalf("run whose user went away = %v, want nil", err)
	}
}

func TestPurgeDeletesDownloadedAndExpiredDocumentsAndOldRows(t *testing.T) {
	h := newHarness(t, exports.Config{TTL: time.Hour, RowRetention: 48 * time.Hour, ChunkSize: 256})
	ctx := context.Background()
	ann, bob := h.user(50), h.user(50)
	a, _ := h.svc.Start(ctx, ann)
	b, _ := h.svc.Start(ctx, bob)
	h.runJobs(ctx)
	if _, err := h.svc.Claim(ctx, ann, a.ID); err != nil { // claimed, never written out
		t.Fatal(err)
	}
	chunks, rows, err := h.svc.Purge(ctx, exports.PurgeJob{})
	if err != nil || chunks == 0 || rows != 0 || h.store.ChunkCount(a.ID) != 0 || h.store.ChunkCount(b.ID) == 0 {
		t.Fatalf("first purge: %d chunks, %d rows, %v", chunks, rows, err)
	}
	h.clock.Advance(time.Hour)
	if _, _, err := h.svc.Purge(ctx, exports.PurgeJob{}); err != nil || h.store.ChunkCount(b.ID) != 0 {
		t.Fatalf("expired chunks kept: %v", err)
	}
	h.clock.Advance(48 * time.Hour)
	if _, rows, err := h.svc.Purge(ctx, exports.PurgeJob{}); err != nil || rows != 2 {
		t.Fatalf("old rows: %d, %v", rows, err)
	}
	if _, err := h.svc.Get(ctx, ann, a.ID); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("purged export = %v", err)
	}
}

func TestStringsAreEscapedIntoValidJSON(t *testing.T) {
	h := newHarness(t, exports.Config{})
	ctx := context.Background()
	ann := uuid.Must(uuid.NewV7())
	nasty := "q\"b\\s\x00\x1f\t\r\n<>&\u2028\u2029é😀\xff\xfe end"
	h.source.SetProfile(ann, exports.Record{{Name: "name", Value: nasty}, {Name: "bad json", Value: json.RawMessage(`{`)},
		{Name: "n", Value: 7}, {Name: "other", Value: []string{"x"}}})
	var buf bytes.Buffer
	if err := h.svc.Encode(ctx, uuid.Nil, ann, &buf, func(string, int64) error { return nil }); err != nil {
		t.Fatal(err)
	}
	zr, _ := gzip.NewReader(&buf)
	plain, _ := io.ReadAll(zr)
	var doc struct{ User map[string]any }
	if err := json.Unmarshal(plain, &doc); err != nil {
		t.Fatalf("invalid JSON %q: %v", plain, err)
	}
	want := strings.ReplaceAll(nasty, "\xff\xfe", "\ufffd\ufffd") // one per invalid byte, as encoding/json
	if doc.User["name"] != want || doc.User["bad json"] != nil || doc.User["n"] != float64(7) {
		t.Fatalf("user %q", doc.User)
	}
}
