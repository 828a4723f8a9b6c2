//go:build race

package exports_test

// raceEnabled: the race detector makes the million-transaction test about
// twenty times slower (146 s against 7 s).
const raceEnabled = true
