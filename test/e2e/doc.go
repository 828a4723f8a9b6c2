// Package e2e holds black-box end-to-end tests of the real dashtam binary.
//
// TestMain builds bootstrap/cmd/dashtam once; each test then starts the binary
// with startInstance (serve on a free loopback port, its own DATA_DIR, logs
// captured) or runs a one-shot command with runBinary, and talks to it only over
// HTTP, SMTP and its exit status and output. Nothing in this package imports the
// service's packages except the test helpers under test/.
//
// Run them with `make e2e` or `go test -race -count=1 ./test/e2e/...`. The tests
// use the embedded SQLite database and need neither Postgres nor Redis. A test
// that needs several instances of one deployment passes each startInstance call
// the same DATABASE_URL (an isolated schema from dbtest.PostgresWithURL), the
// same sharedKeys and the same PUBLIC_BASE_URL (the JWT issuer and audience).
package e2e
