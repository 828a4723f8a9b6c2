package main

// PocketBase on the same core (SQLite only; BENCH_POCKETBASE=0 skips it): the SQLite
// targets are "at least 2x the req/s of a typical Go backend-as-a-service on
// SQLite", and PocketBase is that service. Measured in the same run, on the
// same core and with the same load generator, the target becomes a ratio that
// does not depend on how fast (or how busy) the machine is.
//
// The driver builds PocketBase's stock binary (examples/base, pinned below)
// once into .bin/pocketbase-<version>/, starts it with its defaults on a fresh
// data directory, creates through its API a "providers" collection shaped like
// the service's table (owner-scoped list and view rules, an index on the
// owner and creation time), one user and that user's 1,000 records, and then
// measures PocketBase's equivalent of a scenario in the same alternating rounds
// as the service and the baseline.

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/dashtam/dashtam/test/bench/loadgen"
)

const (
	// pocketBaseVersion is the PocketBase measured: the newest release that
	// builds with Go 1.26 (v0.40 needs Go 1.27).
	pocketBaseVersion = "v0.36.8"
	pocketBasePackage = "github.com/pocketbase/pocketbase/examples/base"
	// pocketBaseCollection is the collection of the user's records.
	pocketBaseCollection = "providers"
	// pocketBaseOwnerRule scopes the list and the view to the records of the
	// authenticated user, as the service's queries are.
	pocketBaseOwnerRule = "user = @request.auth.id"
)

// pocketBaseEquivalent is PocketBase's request for one of the service's
// scenarios.
type pocketBaseEquivalent struct {
	scenario string // the service's scenario it is measured with
	name     string // the row's scenario, when it is not the same request
	// paths are the request targets; items is how many records each answer
	// must hold, and total its totalItems (-1: not counted).
	paths        func(pb *pocketBase) []string
	items, total int
}

func pocketBaseEquivalents() []pocketBaseEquivalent {
	records := "/api/collections/" + pocketBaseCollection + "/records"
	return []pocketBaseEquivalent{
		{
			scenario: "GET /providers/{id}",
			paths: func(pb *pocketBase) []string {
				out := make([]string, len(pb.ids))
				for i, id := range pb.ids {
					out[i] = records + "/" + id
				}
				return out
			},
			items: 1, total: -1,
		},
		{
			// Rows 501-520 newest first, without a count, like the cursor page;
			// PocketBase pages by offset only.
			scenario: "GET /providers?limit=20 (cursor page)",
			paths:    func(*pocketBase) []string { return []string{pocketBaseCursorPage()} },
			items:    pageSize, total: -1,
		},
		{
			// Information: the list as PocketBase's clients ask for it by
			// default (getList(1, 20): no sort, with the total count), measured
			// in the rounds of the offset page, which counts too.
			scenario: "GET /providers?page=26&per_page=20 (offset page)",
			name:     "GET /records?page=1&perPage=20 (default list, total)",
			paths: func(*pocketBase) []string {
				return []string{fmt.Sprintf("%s?page=1&perPage=%d", records, pageSize)}
			},
			items: pageSize, total: seedProviders,
		},
	}
}

// pocketBaseCursorPage is the equivalent of the cursor page: rows 501-520,
// newest first, not counted.
func pocketBaseCursorPage() string {
	return fmt.Sprintf("/api/collections/%s/records?page=%d&perPage=%d&sort=-created,-id&skipTotal=1",
		pocketBaseCollection, pageAfter/pageSize+1, pageSize)
}

// pocketBaseOn reports whether PocketBase is to be measured: unless
// BENCH_POCKETBASE=0.
func pocketBaseOn() bool {
	return os.Getenv("BENCH_POCKETBASE") != "0"
}

// wantsPocketBase reports whether PocketBase is to be measured with backend:
// the knob is on, the backend is SQLite, and a scenario with an equivalent is
// to run.
func (c *config) wantsPocketBase(backend string) bool {
	if !pocketBaseOn() || c.noPocketBase || backend != "sqlite" {
		return false
	}
	for _, e := range pocketBaseEquivalents() {
		if c.wants(backend, e.scenario) {
			return true
		}
	}
	return false
}

// pocketBaseBinary is where buildPocketBase installs PocketBase: a directory
// git ignores, one per version, so a second run does not rebuild.
func pocketBaseBinary(cfg *config) string {
	return filepath.Join(cfg.root, ".bin", "pocketbase-"+pocketBaseVersion, "base")
}

// buildPocketBase installs the pinned PocketBase when it is wanted and not
// there yet, with go install from a temporary directory, outside this module
// (its go.mod and go.sum stay as they are).
func buildPocketBase(cfg *config) error {
	if !cfg.wantsPocketBase("sqlite") {
		return nil
	}
	bin := pocketBaseBinary(cfg)
	if _, err := os.Stat(bin); err == nil {
		return nil
	}
	fmt.Printf("building PocketBase %s into %s (once; a few minutes)\n", pocketBaseVersion, filepath.Dir(bin))
	dir, err := os.MkdirTemp("", "dashtam-bench-pocketbase-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	cmd := exec.Command("go", "install", pocketBasePackage+"@"+pocketBaseVersion)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOBIN="+filepath.Dir(bin), "GOFLAGS=-mod=mod", "GOWORK=off")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go install %s@%s: %w", pocketBasePackage, pocketBaseVersion, err)
	}
	return nil
}

// pocketBase is a running PocketBase holding the bench user's records. Its
// methods accept nil: PocketBase is not measured.
type pocketBase struct {
	p     *proc
	addr  string
	token string   // the user's auth token
	ids   []string // the user's records, oldest first
}

// startPocketBase starts and seeds PocketBase when it is wanted with backend;
// otherwise it returns nil.
func startPocketBase(ctx context.Context, cfg *config, backend string) (*pocketBase, error) {
	if !cfg.wantsPocketBase(backend) {
		return nil, nil
	}
	bin := pocketBaseBinary(cfg)
	dataDir := filepath.Join(cfg.tmp, "pocketbase", "pb_data")
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, err
	}
	suEmail, suPassword := "bench-su-"+randomHex(6)+"@example.com", "Bench-Passw0rd-"+randomHex(6)
	// The superuser is made with the CLI, before serving (this also migrates
	// the new data directory).
	setupLog := filepath.Join(cfg.tmp, backend+"-pocketbase-setup.log")
	out, err := exec.CommandContext(ctx, bin, "superuser", "upsert", suEmail, suPassword, "--dir="+dataDir).CombinedOutput()
	_ = os.WriteFile(setupLog, out, 0o600)
	if err != nil {
		return nil, fmt.Errorf("pocketbase superuser upsert: %w: %s", err, out)
	}

	pb := &pocketBase{addr: freeAddr()}
	fmt.Printf("%s: starting PocketBase %s on %s\n", backend, pocketBaseVersion, pb.addr)
	pb.p, err = startProc(cfg, "pocketbase-"+backend, []string{bin, "serve", "--http=" + pb.addr, "--dir=" + dataDir},
		nil, filepath.Join(cfg.tmp, backend+"-pocketbase.log"))
	if err != nil {
		return nil, err
	}
	if err := waitReady(ctx, pb.p, "http://"+pb.addr+"/api/health", "", 60*time.Second); err != nil {
		pb.stop()
		return nil, err
	}
	fmt.Printf("%s: seeding PocketBase (a %q collection, one user, %d records)\n", backend, pocketBaseCollection, seedProviders)
	if err := pb.seed(suEmail, suPassword); err != nil {
		pb.stop()
		return nil, fmt.Errorf("pocketbase: seed: %w", err)
	}
	return pb, nil
}

type pocketBaseAuth struct {
	Token  string `json:"token"`
	Record struct {
		ID string `json:"id"`
	} `json:"record"`
}

type pocketBaseList struct {
	Items []struct {
		ID string `json:"id"`
	} `json:"items"`
	TotalItems int `json:"totalItems"`
}

// seed creates the collection, the user and the user's records through the
// API (the shapes of PocketBase v0.23 and later), and checks that the page the
// cursor-page equivalent reads is rows 501-520.
func (pb *pocketBase) seed(suEmail, suPassword string) error {
	a := &apiClient{base: "http://" + pb.addr, client: &http.Client{Timeout: 60 * time.Second}}
	var su pocketBaseAuth
	if _, err := a.do(http.MethodPost, "/api/collections/_superusers/auth-with-password", "",
		map[string]string{"identity": suEmail, "password": suPassword}, &su, http.StatusOK); err != nil {
		return err
	}
	var users struct {
		ID string `json:"id"`
	}
	if _, err := a.do(http.MethodGet, "/api/collections/users", su.Token, nil, &users, http.StatusOK); err != nil {
		return err
	}
	// The service's providers table, less what only writes use (version,
	// alias_key and its unique index); the index matches the service's
	// (user_id, created_at, id), so both read a page in index order.
	collection := map[string]any{
		"name": pocketBaseCollection,
		"type": "base",
		"fields": []map[string]any{
			{"name": "user", "type": "relation", "collectionId": users.ID, "maxSelect": 1, "required": true, "cascadeDelete": true},
			{"name": "provider_key", "type": "text", "required": true},
			{"name": "alias", "type": "text", "required": true},
			{"name": "connection_status", "type": "text", "required": true},
			{"name": "created", "type": "autodate", "onCreate": true},
			{"name": "updated", "type": "autodate", "onCreate": true, "onUpdate": true},
		},
		"indexes": []string{
			"CREATE INDEX `idx_" + pocketBaseCollection + "_user_created` ON `" + pocketBaseCollection + "` (`user`, `created`, `id`)",
		},
		"listRule": pocketBaseOwnerRule,
		"viewRule": pocketBaseOwnerRule,
	}
	if _, err := a.do(http.MethodPost, "/api/collections", su.Token, collection, nil, http.StatusOK); err != nil {
		return err
	}
	email, password := "bench-"+randomHex(6)+"@example.com", "Bench-Passw0rd-"+randomHex(6)
	if _, err := a.do(http.MethodPost, "/api/collections/users/records", su.Token,
		map[string]any{"email": email, "password": password, "passwordConfirm": password, "name": "Bench", "verified": true}, nil, http.StatusOK); err != nil {
		return err
	}
	var user pocketBaseAuth
	if _, err := a.do(http.MethodPost, "/api/collections/users/auth-with-password", "",
		map[string]string{"identity": email, "password": password}, &user, http.StatusOK); err != nil {
		return err
	}
	pb.token = user.Token

	// The records, by a few concurrent clients, as the service's are seeded.
	records := "/api/collections/" + pocketBaseCollection + "/records"
	if err := concurrently(8, seedProviders, func(i int) error {
		_, err := a.do(http.MethodPost, records, su.Token, map[string]string{
			"user": user.Record.ID, "provider_key": "sandbox", "alias": fmt.Sprintf("seed-%04d", i), "connection_status": "not_connected",
		}, nil, http.StatusOK)
		return err
	}); err != nil {
		return err
	}

	// All of them as the user sees them, newest first, then the page.
	var all pocketBaseList
	if _, err := a.do(http.MethodGet, fmt.Sprintf("%s?perPage=%d&sort=-created,-id", records, seedProviders), pb.token, nil, &all, http.StatusOK); err != nil {
		return err
	}
	if len(all.Items) != seedProviders || all.TotalItems != seedProviders {
		return fmt.Errorf("the user sees %d records (total %d), want %d", len(all.Items), all.TotalItems, seedProviders)
	}
	for i := len(all.Items) - 1; i >= 0; i-- {
		pb.ids = append(pb.ids, all.Items[i].ID)
	}
	var want []string
	for _, it := range all.Items[pageAfter : pageAfter+pageSize] {
		want = append(want, it.ID)
	}
	var page pocketBaseList
	cursorPage := pocketBaseCursorPage()
	if _, err := a.do(http.MethodGet, cursorPage, pb.token, nil, &page, http.StatusOK); err != nil {
		return err
	}
	got := make([]string, len(page.Items))
	for i, it := range page.Items {
		got[i] = it.ID
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		return fmt.Errorf("%s does not answer rows %d-%d", cursorPage, pageAfter+1, pageAfter+pageSize)
	}
	// Without the user's token they are not there: the rules are in force.
	if _, err := a.do(http.MethodGet, records+"/"+pb.ids[0], "", nil, nil, http.StatusNotFound); err != nil {
		return fmt.Errorf("view rule not in force: %w", err)
	}
	return nil
}

// targets are PocketBase's equivalents of the scenario, to be measured in its
// rounds.
func (pb *pocketBase) targets(scenario string) []target {
	if pb == nil {
		return nil
	}
	var out []target
	for _, e := range pocketBaseEquivalents() {
		if e.scenario != scenario {
			continue
		}
		paths := e.paths(pb)
		reqs := make([][]byte, len(paths))
		for i, p := range paths {
			// The raw token, as PocketBase's SDKs send it.
			reqs[i] = loadgen.BuildRequest(http.MethodGet, pb.addr, p, []loadgen.Header{{Name: "Authorization", Value: pb.token}}, nil)
		}
		check := pocketBaseCheck(e.items, e.total)
		out = append(out, target{
			server: "pocketbase", p: pb.p, addr: pb.addr, scenario: e.name,
			newWorker: func(i int) loadgen.Worker {
				w := &loadgen.Static{Requests: reqs, Check: check}
				for range (i * 37) % len(reqs) {
					w.Request()
				}
				return w
			},
		})
	}
	return out
}

// pocketBaseCheck accepts a 200 with items records (each record has its
// collectionName) and, for a list, the given totalItems.
func pocketBaseCheck(items, total int) func(int, []byte) error {
	marker := []byte(`"collectionName":"` + pocketBaseCollection + `"`)
	totalField := []byte(fmt.Sprintf(`"totalItems":%d`, total))
	return func(status int, body []byte) error {
		if status != http.StatusOK {
			return fmt.Errorf("status %d, want 200: %.200s", status, body)
		}
		if n := bytes.Count(body, marker); n != items {
			return fmt.Errorf("%d records, want %d: %.200s", n, items, body)
		}
		if items > 1 && !bytes.Contains(body, totalField) {
			return fmt.Errorf("no %s: %.200s", totalField, body)
		}
		return nil
	}
}

// againstBaseline compares the rows of PocketBase's targets, measured beside a
// scenario, with the scenario's baseline row, if any.
func againstBaseline(rows []row, baseline *row) []row {
	for i := range rows {
		rows[i].vs = baseline
	}
	return rows
}

func (pb *pocketBase) note() []string {
	if pb == nil {
		return nil
	}
	return []string{fmt.Sprintf("sqlite: PocketBase %s (%s, default settings: request logs written to its auxiliary.db, no rate limits) "+
		"with the same %d records for one user, owner-scoped list and view rules (%s), index (user, created, id); "+
		"its tokens are checked against the user's record on every request",
		pocketBaseVersion, pocketBasePackage, seedProviders, pocketBaseOwnerRule)}
}

func (pb *pocketBase) stop() {
	if pb != nil && pb.p != nil {
		pb.p.stop()
	}
}

// pocketBaseTarget is the SQLite target against PocketBase in this run: the
// service's req/s at least 2x PocketBase's on the equivalent request.
func pocketBaseTarget(r, pb *row, what string) string {
	ok := r.rps >= 2*pb.rps
	verdict := "FAIL"
	if ok {
		verdict = "PASS"
	}
	ratio := 0.0
	if pb.rps > 0 {
		ratio = r.rps / pb.rps
	}
	line := fmt.Sprintf("  %s  SQLite %s: %.2fx PocketBase %s's req/s in this run (%.0f against %.0f; target >= 2x)",
		verdict, what, ratio, pocketBaseVersion, r.rps, pb.rps)
	if r.cpuPerReq > 0 && pb.cpuPerReq > 0 {
		line += fmt.Sprintf("; CPU per request %.0f against %.0f µs (%.2fx)",
			float64(r.cpuPerReq)/float64(time.Microsecond), float64(pb.cpuPerReq)/float64(time.Microsecond), float64(r.cpuPerReq)/float64(pb.cpuPerReq))
	}
	if worst := max(r.others, pb.others); worst >= 0.10 {
		line += fmt.Sprintf(" [DISTURBED: other processes used %.0f%% of a core meanwhile]", 100*worst)
	}
	return line
}
