package password

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Hashes made by the reference implementation (the argon2 command-line tool from
// github.com/P-H-C/phc-winner-argon2, Debian package "argon2"), so these tests also
// prove we read what other argon2id implementations write.
const (
	// echo -n "correct horse battery staple" | argon2 "saltysaltysalty!" -id -t 2 -k 19456 -p 1 -l 32 -e
	refDefaultParams = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHlzYWx0eXNhbHR5IQ$N4DoV9A8+B64DV18XgZ8Q0569DmKEaCMCkb7T4m0npo"
	// echo -n "hunter2hunter2" | argon2 "0123456789abcdef0123456789abcdef" -id -t 3 -k 32768 -p 2 -l 32 -e
	refStrongerParams = "$argon2id$v=19$m=32768,t=3,p=2$MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY$f0HRoLQ6yDHt612vJF/eN+vId2X0hlUzFjznNRlA5UA"
)

func TestHashThenVerify(t *testing.T) {
	h := New(DefaultParams, 2)
	ctx := context.Background()

	tests := []struct {
		name     string
		password string
	}{
		{name: "ascii", password: "correct horse battery staple"},
		{name: "multi-byte runes", password: "pässwörd-€-🔑-馬"},
		{name: "empty", password: ""},
		{name: "128 four-byte runes", password: strings.Repeat("🔑", 128)},
		{name: "contains NUL and dollar", password: "a\x00b$c$d"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			encoded, err := h.Hash(ctx, tt.password)
			if err != nil {
				t.Fatalf("Hash: %v", err)
			}
			if want := "$argon2id$v=19$m=19456,t=2,p=1$"; !strings.HasPrefix(encoded, want) {
				t.Fatalf("Hash = %q, want prefix %q", encoded, want)
			}
			if p, salt, key, err := parsePHC(encoded); err != nil || p != DefaultParams || len(salt) != 16 || len(key) != 32 {
				t.Fatalf("parsePHC(Hash()) = %+v, %d-byte salt, %d-byte key, %v", p, len(salt), len(key), err)
			}

			ok, rehash, err := h.Verify(ctx, tt.password, encoded)
			if err != nil || !ok || rehash {
				t.Errorf("Verify(right password) = %v, %v, %v; want true, false, nil", ok, rehash, err)
			}
			for _, wrong := range []string{tt.password + "x", tt.password + " ", strings.ToUpper(tt.password) + "A"} {
				ok, rehash, err := h.Verify(ctx, wrong, encoded)
				if err != nil || ok || rehash {
					t.Errorf("Verify(wrong password) = %v, %v, %v; want false, false, nil", ok, rehash, err)
				}
			}
		})
	}
}

func TestHashUsesFreshSalt(t *testing.T) {
	h := New(DefaultParams, 2)
	a, errA := h.Hash(context.Background(), "same password")
	b, errB := h.Hash(context.Background(), "same password")
	if errA != nil || errB != nil {
		t.Fatalf("Hash: %v, %v", errA, errB)
	}
	if a == b {
		t.Fatal("two hashes of the same password are identical: the salt is not random")
	}
}

func TestVerifyReferenceHashes(t *testing.T) {
	h := New(DefaultParams, 2)
	tests := []struct {
		name       string
		encoded    string
		password   string
		wantOK     bool
		wantRehash bool
	}{
		{name: "same params match", encoded: refDefaultParams, password: "correct horse battery staple", wantOK: true},
		{name: "same params wrong password", encoded: refDefaultParams, password: "correct horse battery stapler"},
		{name: "other params match needs rehash", encoded: refStrongerParams, password: "hunter2hunter2", wantOK: true, wantRehash: true},
		{name: "other params wrong password never asks for rehash", encoded: refStrongerParams, password: "hunter2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, rehash, err := h.Verify(context.Background(), tt.password, tt.encoded)
			if err != nil || ok != tt.wantOK || rehash != tt.wantRehash {
				t.Errorf("Verify = %v, %v, %v; want %v, %v, nil", ok, rehash, err, tt.wantOK, tt.wantRehash)
			}
		})
	}
}

func TestVerifyReportsRehashWhenParamsDiffer(t *testing.T) {
	current := DefaultParams
	tests := []struct {
		name       string
		stored     Params
		wantRehash bool
	}{
		{name: "same params", stored: current},
		{name: "more memory", stored: with(current, func(p *Params) { p.Memory = 24576 }), wantRehash: true},
		{name: "more passes", stored: with(current, func(p *Params) { p.Time = 3 }), wantRehash: true},
		{name: "more lanes", stored: with(current, func(p *Params) { p.Threads = 2 }), wantRehash: true},
		{name: "longer salt", stored: with(current, func(p *Params) { p.SaltLen = 32 }), wantRehash: true},
		{name: "longer key", stored: with(current, func(p *Params) { p.KeyLen = 64 }), wantRehash: true},
	}
	h := New(current, 2)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			encoded, err := New(tt.stored, 1).Hash(context.Background(), "pw for rehash")
			if err != nil {
				t.Fatalf("Hash: %v", err)
			}
			ok, rehash, err := h.Verify(context.Background(), "pw for rehash", encoded)
			if err != nil || !ok || rehash != tt.wantRehash {
				t.Errorf("Verify = %v, %v, %v; want true, %v, nil", ok, rehash, err, tt.wantRehash)
			}
		})
	}

	t.Run("weaker stored hash from an older configuration", func(t *testing.T) {
		// New refuses to make hashes below the floor, so build one by hand.
		weak := Params{Memory: 4096, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}
		salt := []byte("0123456789abcdef")
		encoded := encodePHC(weak, salt, deriveArgon2id([]byte("old"), salt, weak))
		ok, rehash, err := h.Verify(context.Background(), "old", encoded)
		if err != nil || !ok || !rehash {
			t.Errorf("Verify = %v, %v, %v; want true, true, nil", ok, rehash, err)
		}
	})
}

func with(p Params, f func(*Params)) Params {
	f(&p)
	return p
}

func TestVerifyRejectsInvalidHashes(t *testing.T) {
	const salt, key = "c2FsdHlzYWx0eXNhbHR5IQ", "N4DoV9A8+B64DV18XgZ8Q0569DmKEaCMCkb7T4m0npo"
	ok := func(params string) string { return "$argon2id$v=19$" + params + "$" + salt + "$" + key }
	tests := []struct {
		name    string
		encoded string
	}{
		{name: "empty", encoded: ""},
		{name: "plain text", encoded: "correct horse battery staple"},
		{name: "only dollars", encoded: "$$$$$"},
		{name: "bcrypt", encoded: "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"},
		{name: "argon2i", encoded: strings.Replace(refDefaultParams, "argon2id", "argon2i", 1)},
		{name: "argon2d", encoded: strings.Replace(refDefaultParams, "argon2id", "argon2d", 1)},
		{name: "uppercase algorithm", encoded: strings.Replace(refDefaultParams, "argon2id", "ARGON2ID", 1)},
		{name: "version 16", encoded: strings.Replace(refDefaultParams, "v=19", "v=16", 1)},
		{name: "missing version", encoded: "$argon2id$m=19456,t=2,p=1$" + salt + "$" + key},
		{name: "missing leading dollar", encoded: refDefaultParams[1:]},
		{name: "trailing dollar", encoded: refDefaultParams + "$"},
		{name: "missing hash", encoded: "$argon2id$v=19$m=19456,t=2,p=1$" + salt},
		{name: "empty hash", encoded: "$argon2id$v=19$m=19456,t=2,p=1$" + salt + "$"},
		{name: "optional keyid field", encoded: ok("m=19456,t=2,p=1,keyid=abc")},
		{name: "params out of order", encoded: ok("t=2,m=19456,p=1")},
		{name: "missing parallelism", encoded: ok("m=19456,t=2")},
		{name: "space in params", encoded: ok("m=19456, t=2,p=1")},
		{name: "leading zero", encoded: ok("m=019456,t=2,p=1")},
		{name: "plus sign", encoded: ok("m=+19456,t=2,p=1")},
		{name: "negative", encoded: ok("m=19456,t=-2,p=1")},
		{name: "empty value", encoded: ok("m=,t=2,p=1")},
		{name: "memory over 1 GiB", encoded: ok("m=1048577,t=2,p=1")},
		{name: "memory overflows uint32", encoded: ok("m=4294967296,t=2,p=1")},
		{name: "memory 20 digits", encoded: ok("m=18446744073709551616,t=2,p=1")},
		{name: "memory below 8 KiB per lane", encoded: ok("m=15,t=2,p=2")},
		{name: "zero passes", encoded: ok("m=19456,t=0,p=1")},
		{name: "too many passes", encoded: ok("m=19456,t=33,p=1")},
		{name: "zero lanes", encoded: ok("m=19456,t=2,p=0")},
		{name: "lanes overflow uint8", encoded: ok("m=19456,t=2,p=256")},
		{name: "padded salt", encoded: "$argon2id$v=19$m=19456,t=2,p=1$" + salt + "==$" + key},
		{name: "url-safe base64 hash", encoded: "$argon2id$v=19$m=19456,t=2,p=1$" + salt + "$" + strings.ReplaceAll(key, "+", "-")},
		{name: "non-canonical trailing bits", encoded: "$argon2id$v=19$m=19456,t=2,p=1$" + salt[:len(salt)-1] + "R$" + key},
		{name: "newline inside salt", encoded: "$argon2id$v=19$m=19456,t=2,p=1$" + salt[:4] + "\n" + salt[4:] + "$" + key},
		{name: "salt too short", encoded: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$" + key},
		{name: "hash too short", encoded: "$argon2id$v=19$m=19456,t=2,p=1$" + salt + "$" + key[:16]},
		{name: "hash too long", encoded: "$argon2id$v=19$m=19456,t=2,p=1$" + salt + "$" + strings.Repeat("A", 100)},
		{name: "overlong input", encoded: refDefaultParams + strings.Repeat("A", 300)},
	}
	h := New(DefaultParams, 2)
	h.derive = func([]byte, []byte, Params) []byte {
		t.Error("derive called for an invalid hash; parsing must fail first")
		return nil
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, rehash, err := h.Verify(context.Background(), "correct horse battery staple", tt.encoded)
			if !errors.Is(err, ErrInvalidHash) {
				t.Fatalf("Verify error = %v, want ErrInvalidHash", err)
			}
			if ok || rehash {
				t.Errorf("Verify = %v, %v with an error; want false, false", ok, rehash)
			}
			if len(tt.encoded) > 8 && strings.Contains(err.Error(), tt.encoded) {
				t.Errorf("error %q repeats the stored hash", err)
			}
		})
	}
}

func TestNewClampsParams(t *testing.T) {
	tests := []struct {
		name string
		in   Params
		want Params
	}{
		{name: "zero value means the defaults", in: Params{}, want: DefaultParams},
		{name: "below the floor is raised", in: Params{Memory: 1024, Time: 1, Threads: 0, SaltLen: 4, KeyLen: 8}, want: DefaultParams},
		{name: "stronger is kept", in: Params{Memory: 65536, Time: 3, Threads: 4, SaltLen: 32, KeyLen: 64}, want: Params{Memory: 65536, Time: 3, Threads: 4, SaltLen: 32, KeyLen: 64}},
		{name: "above the read bounds is lowered", in: Params{Memory: 1 << 30, Time: 1000, Threads: 255, SaltLen: 1000, KeyLen: 1000}, want: Params{Memory: maxMemory, Time: maxTime, Threads: 255, SaltLen: maxSaltLen, KeyLen: maxKeyLen}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := New(tt.in, 1).params
			if got != tt.want {
				t.Fatalf("params = %+v, want %+v", got, tt.want)
			}
			// Whatever New settles on, Verify must be able to read back.
			encoded := encodePHC(got, make([]byte, got.SaltLen), make([]byte, got.KeyLen))
			if p, _, _, err := parsePHC(encoded); err != nil || p != got {
				t.Errorf("parsePHC(%q) = %+v, %v; want %+v", encoded, p, err, got)
			}
		})
	}
}

func TestNewDefaultsConcurrencyToGOMAXPROCS(t *testing.T) {
	for _, n := range []int{0, -1} {
		if got, want := cap(New(DefaultParams, n).sem), runtime.GOMAXPROCS(0); got != want {
			t.Errorf("New(_, %d) allows %d concurrent hashes, want %d", n, got, want)
		}
	}
}

// blockingDerive replaces the key derivation with one that records how many run at
// once and holds each caller until release is closed or sent to.
type blockingDerive struct {
	inFlight, peak atomic.Int32
	entered        chan struct{}
	release        chan struct{}
}

func newBlockingDerive() *blockingDerive {
	return &blockingDerive{entered: make(chan struct{}, 100), release: make(chan struct{})}
}

func (b *blockingDerive) derive(_, _ []byte, p Params) []byte {
	n := b.inFlight.Add(1)
	for {
		peak := b.peak.Load()
		if n <= peak || b.peak.CompareAndSwap(peak, n) {
			break
		}
	}
	b.entered <- struct{}{}
	<-b.release
	b.inFlight.Add(-1)
	return make([]byte, p.KeyLen)
}

func TestConcurrentHashesAreCapped(t *testing.T) {
	const limit, callers = 2, 6
	h := New(DefaultParams, limit)
	d := newBlockingDerive()
	h.derive = d.derive
	waiting := make(chan struct{}, callers)
	h.onWait = func() { waiting <- struct{}{} }

	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for i := range callers {
		wg.Go(func() {
			var err error
			if i%2 == 0 {
				_, err = h.Hash(context.Background(), "pw")
			} else {
				_, _, err = h.Verify(context.Background(), "pw", refDefaultParams)
			}
			errs <- err
		})
	}

	// Deterministic: exactly `limit` callers get in and the rest report waiting.
	for range limit {
		<-d.entered
	}
	for range callers - limit {
		<-waiting
	}
	if got := d.inFlight.Load(); got != limit {
		t.Fatalf("%d hashes in flight with every caller started, want %d", got, limit)
	}

	// Let them through one at a time: each release admits exactly one waiter.
	for range callers - limit {
		d.release <- struct{}{}
		<-d.entered
		if got := d.inFlight.Load(); got > limit {
			t.Fatalf("%d hashes in flight, want at most %d", got, limit)
		}
	}
	close(d.release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("caller failed: %v", err)
		}
	}
	if got := d.peak.Load(); got != limit {
		t.Errorf("peak concurrency = %d, want %d", got, limit)
	}
}

func TestWaitingForASlotHonoursContext(t *testing.T) {
	calls := []struct {
		name string
		call func(h *Argon2id, ctx context.Context) error
	}{
		{name: "Hash", call: func(h *Argon2id, ctx context.Context) error {
			encoded, err := h.Hash(ctx, "pw")
			if encoded != "" {
				t.Errorf("Hash returned %q alongside an error", encoded)
			}
			return err
		}},
		{name: "Verify", call: func(h *Argon2id, ctx context.Context) error {
			ok, rehash, err := h.Verify(ctx, "correct horse battery staple", refDefaultParams)
			if ok || rehash {
				t.Errorf("Verify = %v, %v alongside an error", ok, rehash)
			}
			return err
		}},
	}
	ends := []struct {
		name    string
		end     func(cancel context.CancelFunc)
		mkCtx   func() (context.Context, context.CancelFunc)
		wantErr error
	}{
		{
			name:    "cancelled",
			mkCtx:   func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) },
			end:     func(cancel context.CancelFunc) { cancel() },
			wantErr: context.Canceled,
		},
		{
			name: "deadline",
			mkCtx: func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), time.Millisecond)
			},
			end:     func(context.CancelFunc) {}, // the deadline passes on its own
			wantErr: context.DeadlineExceeded,
		},
	}
	for _, c := range calls {
		for _, e := range ends {
			t.Run(c.name+" "+e.name, func(t *testing.T) {
				h := New(DefaultParams, 1)
				d := newBlockingDerive()
				h.derive = d.derive
				waiting := make(chan struct{}, 1)
				h.onWait = func() { waiting <- struct{}{} }

				// Occupy the only slot.
				holder := make(chan error, 1)
				go func() { _, err := h.Hash(context.Background(), "holder"); holder <- err }()
				<-d.entered

				ctx, cancel := e.mkCtx()
				defer cancel()
				result := make(chan error, 1)
				go func() { result <- c.call(h, ctx) }()
				var err error
				select {
				case <-waiting: // queued behind the holder; now end its context
					e.end(cancel)
					err = <-result
				case err = <-result: // a short deadline may pass before it even queues
				}
				if !errors.Is(err, e.wantErr) {
					t.Errorf("error = %v, want %v", err, e.wantErr)
				}

				close(d.release)
				if err := <-holder; err != nil {
					t.Errorf("holder: %v", err)
				}
				if got := len(h.sem); got != 0 {
					t.Errorf("%d slots still taken after everyone left", got)
				}
			})
		}
	}
}

func TestDoneContextDoesNotTakeAFreeSlot(t *testing.T) {
	h := New(DefaultParams, 4)
	h.derive = func([]byte, []byte, Params) []byte {
		t.Error("derive ran for a caller whose context had already ended")
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := h.Hash(ctx, "pw"); !errors.Is(err, context.Canceled) {
		t.Errorf("Hash error = %v, want context.Canceled", err)
	}
	if _, _, err := h.Verify(ctx, "pw", refDefaultParams); !errors.Is(err, context.Canceled) {
		t.Errorf("Verify error = %v, want context.Canceled", err)
	}
}

func BenchmarkHash(b *testing.B) {
	h := New(DefaultParams, 1)
	for b.Loop() {
		if _, err := h.Hash(context.Background(), "correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
}
