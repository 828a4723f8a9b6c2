package exports_test

import (
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"runtime"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/application/audit"
	"github.com/dashtam/dashtam/application/exports"
	"github.com/dashtam/dashtam/test/fakes/fakeclock"
	"github.com/dashtam/dashtam/test/fakes/memory"
)

// syntheticSource yields n generated transactions, a page at a time, holding
// none of them: what the document's memory use is measured against.
type syntheticSource struct{ n int }

func (s syntheticSource) Profile(_ context.Context, userID uuid.UUID) (exports.Record, error) {
	return exports.Record{{Name: "id", Value: userID.String()}, {Name: "email", Value: "ann@example.com"}}, nil
}

func (s syntheticSource) ReadSection(_ context.Context, _ uuid.UUID, section exports.Section, after exports.Cursor, limit int,
) ([]exports.Record, exports.Cursor, error) {
	if section != exports.Transactions {
		return nil, nil, nil
	}
	from := 0
	if len(after) == 1 {
		from = after[0].(int)
	}
	to := min(from+limit, s.n)
	page := make([]exports.Record, 0, to-from)
	created := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := from; i < to; i++ {
		page = append(page, exports.Record{
			{Name: "id", Value: uuid.NewSHA1(uuid.NameSpaceOID, fmt.Appendf(nil, "%d", i)).String()},
			{Name: "account_id", Value: "01a24b2d-5c6d-7981-abbe-2abe0af3dc57"},
			{Name: "provider_id", Value: "01a24b2d-5c1a-76e5-9f34-7aca38a56dd5"},
			{Name: "state", Value: "live"},
			{Name: "status", Value: "posted"},
			{Name: "amount", Value: exports.Decimal(fmt.Sprintf("-%d.%02d", i%5000, i%100))},
			{Name: "currency", Value: "USD"},
			{Name: "date", Value: created.AddDate(0, 0, -i%3650).Format(time.DateOnly)},
			{Name: "authorized_date", Value: nil},
			{Name: "posted_date", Value: nil},
			{Name: "description", Value: fmt.Sprintf("CARD PURCHASE %d MERCHANT #%d", i, i%977)},
			{Name: "merchant_name", Value: fmt.Sprintf("Merchant %d", i%977)},
			{Name: "category_primary", Value: "FOOD_AND_DRINK"},
			{Name: "category_detailed", Value: "FOOD_AND_DRINK_COFFEE"},
			{Name: "kind", Value: "regular"},
			{Name: "removed_at", Value: nil},
			{Name: "created_at", Value: created.Add(time.Duration(i) * time.Second)},
			{Name: "updated_at", Value: created.Add(time.Duration(i) * time.Second)},
			{Name: "feed_position", Value: int64(i + 1)},
		})
	}
	return page, exports.Cursor{to}, nil
}

// sinkStore keeps the export row in memory and pipes every chunk into a
// gunzip that counts the document's bytes and discards them; it samples
// the heap at every progress save (every page).
type sinkStore struct {
	*memory.ExportStore
	pipe       *io.PipeWriter
	compressed int64
	peakHeap   uint64
	samples    int
}

func (s *sinkStore) AppendChunk(_ context.Context, _ uuid.UUID, _ int, data []byte) error {
	s.compressed += int64(len(data))
	_, err := s.pipe.Write(data)
	return err
}

func (s *sinkStore) SaveProgress(ctx context.Context, id uuid.UUID, stage string, records int64) error {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	s.peakHeap = max(s.peakHeap, m.HeapAlloc)
	s.samples++
	return s.ExportStore.SaveProgress(ctx, id, stage, records)
}

// A million transactions stream through the job with a flat heap: one page
// and one chunk at a time, whatever the document weighs. Under the race
// detector (make test, CI), where a million take 146 s, a quarter of a
// million (a document of about 140 MB, twice the bound) prove the same.
func TestMillionTransactionsStreamWithFlatMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a document of about 550 MB")
	}
	n := 1_000_000
	if raceEnabled {
		n = 250_000
	}
	const heapBound = 64 << 20
	queue := &memory.JobQueue{}
	pr, pw := io.Pipe()
	store := &sinkStore{ExportStore: memory.NewExportStore(queue), pipe: pw}
	plain := make(chan int64, 1)
	go func() {
		zr, err := gzip.NewReader(pr)
		if err != nil {
			_ = pr.CloseWithError(err)
			plain <- -1
			return
		}
		written, err := io.Copy(io.Discard, zr)
		if err != nil {
			_ = pr.CloseWithError(err)
			written = -1
		}
		plain <- written
	}()
	clk := fakeclock.New(time.Now())
	svc := exports.New(exports.Deps{Store: store, Source: syntheticSource{n: n}, Clock: clk,
		Audit: audit.NewService(memory.NewAuditLog(), clk, nil, audit.DefaultRetention)}, exports.Config{})
	ctx := context.Background()
	ann := uuid.Must(uuid.NewV7())
	e, err := svc.Start(ctx, ann)
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	began := time.Now()
	for _, j := range queue.Take() {
		if err := svc.Run(ctx, j.(exports.Job)); err != nil {
			t.Fatal(err)
		}
	}
	elapsed := time.Since(began)
	_ = pw.Close()
	size := <-plain
	e, _ = svc.Get(ctx, ann, e.ID)
	if e.Status != exports.Succeeded || e.RecordsWritten != int64(n) || e.Size != store.compressed {
		t.Fatalf("export %+v", e)
	}
	if size < 2*heapBound {
		t.Fatalf("the document is %d bytes: too small to prove the memory stays flat", size)
	}
	t.Logf("%d transactions: %d MB of JSON, %d MB gzip in %d chunks, in %v; heap peak %d MB (base %d MB) over %d samples",
		n, size>>20, store.compressed>>20, e.Chunks, elapsed.Round(time.Millisecond), store.peakHeap>>20, base.HeapAlloc>>20, store.samples)
	if store.samples < n/exports.DefaultPageSize {
		t.Fatalf("only %d heap samples", store.samples)
	}
	if store.peakHeap > base.HeapAlloc+heapBound {
		t.Fatalf("heap peaked at %d MB over a base of %d MB: the document is held in memory", store.peakHeap>>20, base.HeapAlloc>>20)
	}
}
