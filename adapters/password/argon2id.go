// Package password hashes and checks user passwords with argon2id, the memory-hard
// function OWASP recommends, and stores them as self-describing PHC strings so the
// parameters can be raised later without invalidating existing hashes.
package password

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"runtime"

	"golang.org/x/crypto/argon2"

	"github.com/dashtam/dashtam/application/identity"
)

var _ identity.PasswordHasher = (*Argon2id)(nil)

// Params are argon2id's cost parameters and output sizes. They travel inside every
// encoded hash, so changing them affects only new hashes; old ones are upgraded on
// the next successful login (see Verify's needsRehash).
type Params struct {
	// Memory is the memory cost in KiB.
	Memory uint32
	// Time is the number of passes over the memory.
	Time uint32
	// Threads is the degree of parallelism.
	Threads uint8
	// SaltLen is the length of the random salt in bytes.
	SaltLen uint32
	// KeyLen is the length of the derived hash in bytes.
	KeyLen uint32
}

// DefaultParams is OWASP's minimum recommendation for argon2id (19 MiB, 2 passes,
// 1 lane) with a 16-byte salt and a 32-byte hash. It is also the floor New enforces:
// anything weaker would make a stolen database cheaper to crack.
var DefaultParams = Params{Memory: 19456, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}

// Upper bounds for parameters, both for the hasher's own and for those read from a
// stored hash, so a corrupt or planted row cannot make one login allocate
// gigabytes or run for minutes.
const (
	maxMemory  = 1 << 20 // KiB, 1 GiB
	maxTime    = 32
	minSaltLen = 8
	maxSaltLen = 64
	minKeyLen  = 16
	maxKeyLen  = 64
)

// Argon2id is an identity.PasswordHasher. It is safe for concurrent use. At most a
// fixed number of hashes run at once, because each one holds Params.Memory of RAM
// for tens of milliseconds: without a cap, a burst of logins is an easy way to
// exhaust the server's memory.
type Argon2id struct {
	params Params
	sem    chan struct{}

	// Test hooks. derive computes the key (argon2.IDKey in production); onWait,
	// when set, is called when a caller finds every slot busy and starts waiting.
	derive func(password, salt []byte, p Params) []byte
	onWait func()
}

// New returns a hasher that makes new hashes with p and runs at most maxConcurrent
// hashes at a time (a value below 1 means runtime.GOMAXPROCS(0), since argon2id is
// CPU-bound and more parallel hashes than cores only add memory). Each field of p
// below DefaultParams is raised to it, and each above the bounds Verify accepts is
// lowered, so a configuration mistake can neither weaken stored hashes nor produce
// hashes this package would refuse to read back.
func New(p Params, maxConcurrent int) *Argon2id {
	if maxConcurrent < 1 {
		maxConcurrent = runtime.GOMAXPROCS(0)
	}
	return &Argon2id{
		params: clampParams(p),
		sem:    make(chan struct{}, maxConcurrent),
		derive: deriveArgon2id,
	}
}

func clampParams(p Params) Params {
	p.Memory = clamp(p.Memory, DefaultParams.Memory, maxMemory)
	p.Time = clamp(p.Time, DefaultParams.Time, maxTime)
	p.Threads = max(p.Threads, DefaultParams.Threads)
	p.SaltLen = clamp(p.SaltLen, DefaultParams.SaltLen, maxSaltLen)
	p.KeyLen = clamp(p.KeyLen, DefaultParams.KeyLen, maxKeyLen)
	return p
}

func clamp(v, lo, hi uint32) uint32 { return min(max(v, lo), hi) }

func deriveArgon2id(password, salt []byte, p Params) []byte {
	return argon2.IDKey(password, salt, p.Time, p.Memory, p.Threads, p.KeyLen)
}

// Hash returns password's argon2id hash as a PHC string with a fresh random salt.
// It waits for a free hashing slot and gives up with ctx.Err() if ctx ends first.
func (h *Argon2id) Hash(ctx context.Context, password string) (string, error) {
	salt := make([]byte, h.params.SaltLen)
	rand.Read(salt) // never fails; a broken system RNG crashes the program instead
	key, err := h.run(ctx, []byte(password), salt, h.params)
	if err != nil {
		return "", err
	}
	return encodePHC(h.params, salt, key), nil
}

// Verify reports whether password matches encoded, comparing in constant time.
// needsRehash is true only for a match whose stored parameters or sizes differ
// from this hasher's, so the caller can store a fresh hash while it still has the
// plaintext. A malformed, unsupported or out-of-bounds encoded hash is an error
// (wrapping ErrInvalidHash), never a plain mismatch, so data corruption is not
// mistaken for a wrong password. Like Hash, it returns ctx.Err() if ctx ends while
// waiting for a slot.
func (h *Argon2id) Verify(ctx context.Context, password, encoded string) (ok, needsRehash bool, err error) {
	stored, salt, want, err := parsePHC(encoded)
	if err != nil {
		return false, false, err
	}
	got, err := h.run(ctx, []byte(password), salt, stored)
	if err != nil {
		return false, false, err
	}
	if subtle.ConstantTimeCompare(got, want) != 1 {
		return false, false, nil
	}
	return true, stored != h.params, nil
}

// run derives a key while holding one of the hashing slots.
func (h *Argon2id) run(ctx context.Context, password, salt []byte, p Params) ([]byte, error) {
	if err := h.acquire(ctx); err != nil {
		return nil, err
	}
	defer func() { <-h.sem }()
	return h.derive(password, salt, p), nil
}

func (h *Argon2id) acquire(ctx context.Context) error {
	// A caller whose request is already gone must not take a slot, even a free one.
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case h.sem <- struct{}{}:
		return nil
	default:
	}
	if h.onWait != nil {
		h.onWait()
	}
	select {
	case h.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
