package httpapi

import (
	"bytes"
	"compress/gzip"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/gin-gonic/gin"
)

// compressMinBytes is the smallest body worth compressing: below about one
// network packet, gzip's header and the CPU cost outweigh the saving.
const compressMinBytes = 1400

var gzipWriters = sync.Pool{New: func() any { return gzip.NewWriter(nil) }}

// compress gzips responses larger than compressMinBytes for clients that accept
// it. Small answers (most API responses) go out as they are, with no buffering
// cost beyond the first 1400 bytes.
func compress(spec *Spec) gin.HandlerFunc {
	return func(c *gin.Context) {
		if spec.streaming(c) || c.Request.Method == http.MethodHead || !acceptsGzip(c.Request.Header.Get("Accept-Encoding")) {
			c.Next()
			return
		}
		w := &gzipWriter{ResponseWriter: c.Writer}
		c.Writer = w
		c.Header("Vary", "Accept-Encoding")
		defer w.finish()
		c.Next()
	}
}

// acceptsGzip reads Accept-Encoding: gzip is accepted unless absent or q=0.
func acceptsGzip(header string) bool {
	for _, part := range strings.Split(header, ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if !strings.EqualFold(strings.TrimSpace(coding), "gzip") {
			continue
		}
		if q, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			v, err := strconv.ParseFloat(q, 64)
			return err == nil && v > 0
		}
		return true
	}
	return false
}

// gzipWriter holds back the first compressMinBytes of the body; beyond that it
// switches to gzip, otherwise finish writes the small body as it is.
type gzipWriter struct {
	gin.ResponseWriter
	buf   bytes.Buffer
	gz    *gzip.Writer
	plain bool // decided: not compressed
}

func (w *gzipWriter) Write(p []byte) (int, error) {
	switch {
	case w.gz != nil:
		return w.gz.Write(p)
	case w.plain:
		return w.ResponseWriter.Write(p)
	}
	w.buf.Write(p)
	if w.buf.Len() < compressMinBytes {
		return len(p), nil
	}
	if !compressible(w.Header()) {
		w.plain = true
		return len(p), w.flushPlain()
	}
	h := w.Header()
	h.Set("Content-Encoding", "gzip")
	h.Del("Content-Length")
	w.gz = gzipWriters.Get().(*gzip.Writer)
	w.gz.Reset(w.ResponseWriter)
	_, err := w.gz.Write(w.buf.Bytes())
	w.buf.Reset()
	return len(p), err
}

func (w *gzipWriter) WriteString(s string) (int, error) { return w.Write([]byte(s)) }

// flushPlain sends what was held back, uncompressed, and passes later writes
// straight through.
func (w *gzipWriter) flushPlain() error {
	if w.buf.Len() == 0 {
		return nil
	}
	_, err := w.ResponseWriter.Write(w.buf.Bytes())
	w.buf.Reset()
	return err
}

func (w *gzipWriter) finish() {
	if w.gz != nil {
		_ = w.gz.Close()
		gzipWriters.Put(w.gz)
		w.gz = nil
		return
	}
	_ = w.flushPlain()
}

// compressible: text formats gain; images and already compressed data do not.
func compressible(h http.Header) bool {
	if h.Get("Content-Encoding") != "" {
		return false
	}
	ct := h.Get("Content-Type")
	return strings.Contains(ct, "json") || strings.HasPrefix(ct, "text/")
}
