// Command servedspec prints the OpenAPI document exactly as the service serves it
// at GET /openapi.json, so that outside tools (Spectral, oapi-codegen) judge what
// clients really get rather than the YAML source. It assembles the service the
// way `dashtam serve` does (development defaults, a throw-away data directory),
// sends the request through the real handler and writes the body to -o (default
// standard output).
//
//	go run ./test/verify/servedspec -o /tmp/openapi.json
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"

	"github.com/dashtam/dashtam/bootstrap"
)

func main() {
	out := flag.String("o", "-", "where to write the document (- for standard output)")
	flag.Parse()
	if err := run(*out); err != nil {
		fmt.Fprintln(os.Stderr, "servedspec:", err)
		os.Exit(1)
	}
}

func run(out string) error {
	doc, err := fetch()
	if err != nil {
		return err
	}
	if out == "-" {
		_, err = os.Stdout.Write(doc)
		return err
	}
	return os.WriteFile(out, doc, 0o644)
}

// fetch builds the service and answers GET /openapi.json through its handler.
func fetch() ([]byte, error) {
	dir, err := os.MkdirTemp("", "dashtam-servedspec-")
	if err != nil {
		return nil, err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	env := map[string]string{"DATA_DIR": dir, "LOG_LEVEL": "error"}
	cfg, log, err := bootstrap.Setup(func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		return nil, err
	}
	app, err := bootstrap.Build(context.Background(), cfg, log, bootstrap.Overrides{})
	if err != nil {
		return nil, err
	}
	defer func() { _ = app.Close() }()
	w := httptest.NewRecorder()
	app.Handler.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/openapi.json", nil))
	if w.Code != http.StatusOK {
		return nil, fmt.Errorf("GET /openapi.json answered %d: %s", w.Code, w.Body.Bytes())
	}
	return w.Body.Bytes(), nil
}
