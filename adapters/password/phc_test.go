package password

import (
	"bytes"
	"testing"
)

func TestEncodePHCRoundTrip(t *testing.T) {
	tests := []struct {
		name   string
		params Params
		salt   []byte
		key    []byte
		want   string
	}{
		{
			name:   "reference vector",
			params: DefaultParams,
			salt:   []byte("saltysaltysalty!"),
			key:    mustDecode(t, "N4DoV9A8+B64DV18XgZ8Q0569DmKEaCMCkb7T4m0npo"),
			want:   refDefaultParams,
		},
		{
			name:   "large parameters",
			params: Params{Memory: maxMemory, Time: maxTime, Threads: 255, SaltLen: 8, KeyLen: 16},
			salt:   bytes.Repeat([]byte{0xff}, 8),
			key:    bytes.Repeat([]byte{0xfb}, 16),
			want:   "$argon2id$v=19$m=1048576,t=32,p=255$//////////8$+/v7+/v7+/v7+/v7+/v7+w",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := encodePHC(tt.params, tt.salt, tt.key)
			if got != tt.want {
				t.Fatalf("encodePHC = %q, want %q", got, tt.want)
			}
			p, salt, key, err := parsePHC(got)
			if err != nil || p != tt.params || !bytes.Equal(salt, tt.salt) || !bytes.Equal(key, tt.key) {
				t.Errorf("parsePHC = %+v, %x, %x, %v; want %+v, %x, %x", p, salt, key, err, tt.params, tt.salt, tt.key)
			}
		})
	}
}

func mustDecode(t *testing.T, s string) []byte {
	t.Helper()
	b, err := b64.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// FuzzParsePHC checks that no input panics the parser, that everything it accepts
// is within the bounds that keep hashing cheap enough, and that it accepts only the
// canonical form: re-encoding gives back the very same string.
func FuzzParsePHC(f *testing.F) {
	f.Add(refDefaultParams)
	f.Add(refStrongerParams)
	f.Add("$argon2id$v=19$m=65536,t=3,p=4$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG")
	f.Add("$argon2i$v=19$m=4096,t=3,p=1$c29tZXNhbHQ$iWh06vD8Fy27wf9npn6FXWiCX4K6pW6Ue1Bnzz07Z8A")
	f.Add("$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy")
	f.Fuzz(func(t *testing.T, s string) {
		p, salt, key, err := parsePHC(s)
		if err != nil {
			return
		}
		if p.Memory > maxMemory || p.Time < 1 || p.Time > maxTime || p.Threads < 1 ||
			p.Memory < 8*uint32(p.Threads) || len(salt) < minSaltLen || len(salt) > maxSaltLen ||
			len(key) < minKeyLen || len(key) > maxKeyLen {
			t.Fatalf("accepted out-of-bounds hash: %+v, %d-byte salt, %d-byte key", p, len(salt), len(key))
		}
		if int(p.SaltLen) != len(salt) || int(p.KeyLen) != len(key) {
			t.Fatalf("params %+v disagree with %d-byte salt, %d-byte key", p, len(salt), len(key))
		}
		if again := encodePHC(p, salt, key); again != s {
			t.Fatalf("accepted a non-canonical form:\n got %q\nwant %q", s, again)
		}
	})
}
