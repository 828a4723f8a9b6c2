package exports

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// The document (docs/exports.md) is one JSON object:
//
//	{"format": "dashtam.export.v1", "export_id": ..., "generated_at": ...,
//	 "user": {...}, "sessions": [...], "providers": [...], ..., "audit_events": [...]}
//
// written as a stream: each section is read in keyset pages and each page is
// encoded, gzip-compressed and cut into chunks as it comes, so memory holds
// one page and one chunk whatever the user's data weighs.

// docStats is what writing a document produced.
type docStats struct {
	size    int64
	chunks  int
	records int64
}

// writeDocument writes e's document into the store's chunks, saving the
// progress after every page.
func (s *Service) writeDocument(ctx context.Context, e Export) (docStats, error) {
	cw := &chunkWriter{ctx: ctx, store: s.d.Store, id: e.ID, buf: make([]byte, 0, s.cfg.ChunkSize), size: s.cfg.ChunkSize}
	var stats docStats
	progress := func(stage string) error {
		return s.d.Store.SaveProgress(ctx, e.ID, stage, stats.records)
	}
	err := s.Encode(ctx, e.ID, e.UserID, cw, func(stage string, records int64) error {
		stats.records = records
		return progress(stage)
	})
	if err != nil {
		return docStats{}, err
	}
	if err := cw.flush(); err != nil {
		return docStats{}, err
	}
	stats.size, stats.chunks = cw.written, cw.seq
	return stats, nil
}

// Encode writes the export's document for userID to w, gzip-compressed,
// calling progress after each page with the section and the records
// written so far. It is the job's whole document without the storage: the
// benchmark and the memory test run it into a sink.
func (s *Service) Encode(ctx context.Context, exportID, userID uuid.UUID, w io.Writer,
	progress func(stage string, records int64) error,
) error {
	gz, err := gzip.NewWriterLevel(w, gzip.DefaultCompression)
	if err != nil {
		return err
	}
	enc := &encoder{w: gz, buf: make([]byte, 0, 64<<10)}
	profile, err := s.d.Source.Profile(ctx, userID)
	if err != nil {
		return err
	}
	enc.raw(`{"format":`)
	enc.value(Format)
	enc.raw(`,"export_id":`)
	enc.value(exportID.String())
	enc.raw(`,"generated_at":`)
	enc.value(s.d.Clock.Now().UTC())
	enc.raw(`,"user":`)
	enc.record(profile)
	var records int64
	for _, section := range Sections {
		enc.raw(`,`)
		enc.value(string(section))
		enc.raw(`:[`)
		var after Cursor
		first := true
		for {
			page, next, err := s.d.Source.ReadSection(ctx, userID, section, after, s.cfg.PageSize)
			if err != nil {
				return fmt.Errorf("export %s: %w", section, err)
			}
			for _, r := range page {
				if !first {
					enc.raw(",")
				}
				first = false
				enc.record(r)
			}
			records += int64(len(page))
			if err := enc.flush(); err != nil {
				return err
			}
			if err := progress(string(section), records); err != nil {
				return err
			}
			if len(page) < s.cfg.PageSize {
				break
			}
			after = next
		}
		enc.raw("]")
	}
	enc.raw("}\n")
	if err := enc.flush(); err != nil {
		return err
	}
	return gz.Close()
}

// chunkWriter cuts what is written to it into chunks of size bytes, each
// stored as soon as it is full.
type chunkWriter struct {
	ctx     context.Context
	store   Store
	id      uuid.UUID
	buf     []byte
	size    int
	seq     int
	written int64
}

func (w *chunkWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		room := w.size - len(w.buf)
		k := min(room, len(p))
		w.buf = append(w.buf, p[:k]...)
		p = p[k:]
		if len(w.buf) == w.size {
			if err := w.flush(); err != nil {
				return 0, err
			}
		}
	}
	return n, nil
}

// flush stores what is buffered as the next chunk.
func (w *chunkWriter) flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	if err := w.store.AppendChunk(w.ctx, w.id, w.seq, w.buf); err != nil {
		return err
	}
	w.seq++
	w.written += int64(len(w.buf))
	w.buf = w.buf[:0]
	return nil
}

// encoder writes JSON into a buffer it hands to w a page at a time. Its
// own appends are faster than encoding/json's reflection on the hot path
// (a million transactions).
type encoder struct {
	w   io.Writer
	buf []byte
	err error
}

func (e *encoder) raw(s string) { e.buf = append(e.buf, s...) }

func (e *encoder) flush() error {
	if e.err != nil {
		return e.err
	}
	if len(e.buf) == 0 {
		return nil
	}
	_, e.err = e.w.Write(e.buf)
	e.buf = e.buf[:0]
	return e.err
}

func (e *encoder) record(r Record) {
	e.buf = append(e.buf, '{')
	for i, f := range r {
		if i > 0 {
			e.buf = append(e.buf, ',')
		}
		e.buf = appendString(e.buf, f.Name)
		e.buf = append(e.buf, ':')
		e.value(f.Value)
	}
	e.buf = append(e.buf, '}')
}

func (e *encoder) value(v any) {
	switch v := v.(type) {
	case nil:
		e.buf = append(e.buf, "null"...)
	case string:
		e.buf = appendString(e.buf, v)
	case Decimal:
		e.buf = appendString(e.buf, string(v))
	case int64:
		e.buf = strconv.AppendInt(e.buf, v, 10)
	case int:
		e.buf = strconv.AppendInt(e.buf, int64(v), 10)
	case bool:
		e.buf = strconv.AppendBool(e.buf, v)
	case time.Time:
		e.buf = append(e.buf, '"')
		e.buf = v.UTC().AppendFormat(e.buf, time.RFC3339Nano)
		e.buf = append(e.buf, '"')
	case json.RawMessage:
		if json.Valid(v) {
			e.buf = append(e.buf, v...)
		} else {
			e.buf = append(e.buf, "null"...)
		}
	default:
		// A type the Source must not return: written as its JSON, or
		// null when it has none, never as Go's own formatting.
		b, err := json.Marshal(v)
		if err != nil {
			b = []byte("null")
		}
		e.buf = append(e.buf, b...)
	}
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string: quotes, backslashes and control
// characters escaped, invalid UTF-8 replaced by U+FFFD, and U+2028/U+2029
// escaped as encoding/json does.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// gunzip writes the gzip stream r holds to w, decompressed.
func gunzip(w io.Writer, r io.Reader) error {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return err
	}
	if _, err := io.Copy(w, zr); err != nil {
		return err
	}
	return zr.Close()
}
