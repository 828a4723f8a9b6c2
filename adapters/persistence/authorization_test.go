package persistence_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/adapters/persistence"
	"github.com/dashtam/dashtam/adapters/vault"
	jobsapp "github.com/dashtam/dashtam/application/jobs"
	providersapp "github.com/dashtam/dashtam/application/providers"
	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/domain/provider"
	"github.com/dashtam/dashtam/test/contract/authorizationcontract"
	"github.com/dashtam/dashtam/test/dbtest"
)

// The composition root gives the store a vault keyring; the vault adapter does
// not import this one, so the check that it fits is here.
var _ persistence.TokenCipher = (*vault.Keyring)(nil)

func TestAuthorizationStoreSQLite(t *testing.T) {
	authorizationcontract.Run(t, func(t *testing.T) authorizationcontract.Harness {
		return authorizationHarness(dbtest.SQLite(t), newKeyring(t, newKey(t, "k1")))
	})
}

func TestAuthorizationStorePostgres(t *testing.T) {
	dbtest.PostgresURL(t) // skip (or fail under CI) once, not in every subtest
	authorizationcontract.Run(t, func(t *testing.T) authorizationcontract.Harness {
		return authorizationHarness(dbtest.Postgres(t), newKeyring(t, newKey(t, "k1")))
	})
}

func authorizationHarness(db *persistence.DB, cipher *vault.Keyring) authorizationcontract.Harness {
	return authorizationcontract.Harness{
		Store:     persistence.NewAuthorizationStore(db, cipher),
		Providers: persistence.NewProviderStore(db),
		NewUser:   authorizationcontract.UsersVia(persistence.NewIdentityStore(db, persistence.DefaultSessionCacheTTL, discardJobs{})),
	}
}

// dialects opens a fresh, migrated database of each dialect.
var dialects = map[string]func(testing.TB) *persistence.DB{
	"sqlite":   dbtest.SQLite,
	"postgres": dbtest.Postgres,
}

// The credential columns hold ciphertext in the documented format, bound to the
// row and field by the documented associated data; the plaintext is nowhere in
// the row, raw or in a common encoding.
func TestAuthorizationCredentialsAreCiphertextAtRest(t *testing.T) {
	for name, open := range dialects {
		t.Run(name, func(t *testing.T) {
			db := open(t)
			ring := newKeyring(t, newKey(t, "primary"))
			st := persistence.NewAuthorizationStore(db, ring)
			p := newStoredProvider(t, db)
			creds := secretCredentials(p)
			snap := granted(p, creds).Snapshot()
			linkToken := "link-production-" + p.ID().String()
			snap.Begun = provider.AttemptBegun{LinkToken: linkToken, LinkExpiresAt: snap.UpdatedAt.Add(4 * time.Hour)}
			put(t, st, provider.RehydrateAuthorization(snap))

			row := rawRow(t, db, p.ID())
			for _, secret := range []string{creds.AccessToken, creds.RefreshToken, creds.ExternalID, linkToken} {
				for _, form := range [][]byte{
					[]byte(secret),
					[]byte(hex.EncodeToString([]byte(secret))),
					[]byte(base64.StdEncoding.EncodeToString([]byte(secret))),
					[]byte(base64.RawURLEncoding.EncodeToString([]byte(secret))),
				} {
					for col, v := range row {
						if bytes.Contains(bytes.ToLower(v), bytes.ToLower(form)) {
							t.Errorf("column %s holds a credential in clear (%q)", col, form)
						}
					}
				}
			}
			for col, field := range map[string]string{
				"access_token_ct":  "access_token",
				"refresh_token_ct": "refresh_token",
				"external_id_ct":   "external_id",
				"link_token_ct":    "link_token",
			} {
				ct := row[col]
				if len(ct) == 0 || ct[0] != 1 || !ring.IsPrimary(ct) {
					t.Errorf("%s = %x, want a version-1 ciphertext under the primary key", col, ct)
					continue
				}
				aad := fmt.Sprintf("dashtam/authorizations/v1|%s|%s|%s", p.UserID(), p.ID(), field)
				if _, err := ring.Decrypt(ct, []byte(aad)); err != nil {
					t.Errorf("%s does not decrypt with associated data %q: %v", col, aad, err)
				}
			}
			if got := string(row["scopes"]); got != "accounts:read trading" {
				t.Errorf("scopes = %q, want them space-separated", got)
			}
			got, err := st.AuthorizationByProvider(t.Context(), p.ID())
			if err != nil {
				t.Fatal(err)
			}
			if c := got.Credentials(); c.AccessToken != creds.AccessToken || c.RefreshToken != creds.RefreshToken || c.ExternalID != creds.ExternalID {
				t.Errorf("credentials do not read back in clear")
			}
			if got.AttemptBegun().LinkToken != linkToken {
				t.Errorf("the link token does not read back in clear")
			}
		})
	}
}

// A ciphertext moved to another row (of the same user or another) or to another
// field of its own row, or altered, does not decrypt: every read of that row is
// an internal error wrapping vault.ErrInvalidCiphertext, never empty or garbled
// credentials, and the error does not carry them.
func TestAuthorizationCiphertextElsewhereDoesNotDecrypt(t *testing.T) {
	for name, open := range dialects {
		t.Run(name, func(t *testing.T) {
			db := open(t)
			st := persistence.NewAuthorizationStore(db, newKeyring(t, newKey(t, "k1")))
			src := newStoredProvider(t, db)
			sameUser := newStoredProviderOf(t, db, src.UserID(), "Second")
			otherUser := newStoredProvider(t, db)
			for _, p := range []*provider.Provider{src, sameUser, otherUser} {
				put(t, st, granted(p, secretCredentials(p)))
			}
			srcCreds := secretCredentials(src)
			// restore puts p's ciphertexts back as they were. UpdateAuthorization
			// cannot: it refuses to load a row it cannot decrypt.
			original := map[uuid.UUID]map[string][]byte{}
			for _, p := range []*provider.Provider{src, sameUser, otherUser} {
				original[p.ID()] = rawRow(t, db, p.ID())
			}
			restore := func(p *provider.Provider) {
				o := original[p.ID()]
				err := db.Gorm.Exec("UPDATE authorizations SET access_token_ct = ?, refresh_token_ct = ?, external_id_ct = ?, lease_owner = NULL, lease_until = NULL WHERE provider_id = ?",
					o["access_token_ct"], o["refresh_token_ct"], o["external_id_ct"], p.ID()).Error
				if err != nil {
					t.Fatal(err)
				}
			}

			cases := []struct {
				name   string
				victim *provider.Provider
				sql    string
				args   []any
			}{
				{"access token copied to another user's row", otherUser,
					"UPDATE authorizations SET access_token_ct = (SELECT access_token_ct FROM authorizations WHERE provider_id = ?) WHERE provider_id = ?",
					[]any{src.ID(), otherUser.ID()}},
				{"refresh token copied to another provider of the same user", sameUser,
					"UPDATE authorizations SET refresh_token_ct = (SELECT refresh_token_ct FROM authorizations WHERE provider_id = ?) WHERE provider_id = ?",
					[]any{src.ID(), sameUser.ID()}},
				{"external id copied to another user's row", otherUser,
					"UPDATE authorizations SET external_id_ct = (SELECT external_id_ct FROM authorizations WHERE provider_id = ?) WHERE provider_id = ?",
					[]any{src.ID(), otherUser.ID()}},
				{"access token copied into its own row's refresh token", src,
					"UPDATE authorizations SET refresh_token_ct = access_token_ct WHERE provider_id = ?",
					[]any{src.ID()}},
				{"whole row's ciphertexts copied to another user's row", otherUser,
					`UPDATE authorizations SET
						access_token_ct = (SELECT access_token_ct FROM authorizations WHERE provider_id = ?),
						refresh_token_ct = (SELECT refresh_token_ct FROM authorizations WHERE provider_id = ?),
						external_id_ct = (SELECT external_id_ct FROM authorizations WHERE provider_id = ?)
					WHERE provider_id = ?`,
					[]any{src.ID(), src.ID(), src.ID(), otherUser.ID()}},
			}
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					if err := db.Gorm.Exec(c.sql, c.args...).Error; err != nil {
						t.Fatal(err)
					}
					t.Cleanup(func() { restore(c.victim) })
					assertUnreadable(t, st, c.victim.ID(), srcCreds, vault.ErrInvalidCiphertext)
				})
			}

			t.Run("a flipped bit", func(t *testing.T) {
				ct := rawRow(t, db, src.ID())["access_token_ct"]
				ct[len(ct)-1] ^= 1
				if err := db.Gorm.Exec("UPDATE authorizations SET access_token_ct = ? WHERE provider_id = ?", ct, src.ID()).Error; err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { restore(src) })
				assertUnreadable(t, st, src.ID(), srcCreds, vault.ErrInvalidCiphertext)
			})

			t.Run("a claim returns the readable rows and an error for the others", func(t *testing.T) {
				if err := db.Gorm.Exec("UPDATE authorizations SET refresh_token_ct = access_token_ct WHERE provider_id = ?", src.ID()).Error; err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { restore(src) })
				now := time.Now()
				got, err := st.ClaimDueRefreshes(t.Context(), uuid.New(), now, now.Add(time.Hour), now.Add(time.Minute), 10)
				if !errors.Is(err, vault.ErrInvalidCiphertext) || errors.Is(err, domain.ErrNotFound) {
					t.Errorf("ClaimDueRefreshes: got %v, want an error wrapping ErrInvalidCiphertext", err)
				}
				if len(got) != 2 {
					t.Fatalf("ClaimDueRefreshes returned %d authorizations, want the 2 readable ones", len(got))
				}
				for _, a := range got {
					if a.ProviderID() == src.ID() || a.Credentials().AccessToken != secretCredentials(mustProviderOf(t, db, a.ProviderID())).AccessToken {
						t.Errorf("claim returned %s with credentials %q", a.ProviderID(), a.Credentials().AccessToken)
					}
				}
			})
		})
	}
}

func assertUnreadable(t *testing.T, st *persistence.AuthorizationStore, id uuid.UUID, secrets provider.Credentials, want error) {
	t.Helper()
	checkErr := func(op string, err error) {
		t.Helper()
		switch {
		case err == nil:
			t.Errorf("%s: no error, want %v", op, want)
		case !errors.Is(err, want):
			t.Errorf("%s: got %v, want an error wrapping %v", op, err, want)
		case errors.Is(err, domain.ErrNotFound), errors.Is(err, domain.ErrInvalidRequest), errors.Is(err, domain.ErrConflict):
			t.Errorf("%s: %v has a client error kind; a ciphertext that does not decrypt is internal", op, err)
		}
		if err != nil {
			for _, s := range []string{secrets.AccessToken, secrets.RefreshToken, secrets.ExternalID} {
				if strings.Contains(err.Error(), s) {
					t.Errorf("%s: error %q carries a credential", op, err)
				}
			}
		}
	}
	a, err := st.AuthorizationByProvider(t.Context(), id)
	checkErr("AuthorizationByProvider", err)
	if a != nil {
		t.Errorf("AuthorizationByProvider returned an authorization alongside the error: %q", a.Credentials().AccessToken)
	}
	_, _, err = st.UpdateAuthorization(t.Context(), id, func(*provider.Provider, *provider.Authorization) (*provider.Authorization, error) {
		t.Error("UpdateAuthorization called fn with an authorization it could not decrypt")
		return nil, nil
	})
	checkErr("UpdateAuthorization", err)
	_, err = st.ReencryptAll(t.Context())
	checkErr("ReencryptAll", err)
}

// Rotation: rows written under an old key read under [new, old]; ReencryptAll
// moves every one of them to the new key (and only those, once); then the old
// key can go: a keyring of the new key alone reads everything, and one of the old
// key alone reads nothing.
func TestAuthorizationKeyRotation(t *testing.T) {
	for name, open := range dialects {
		t.Run(name, func(t *testing.T) {
			db := open(t)
			oldKey, newKey := newKey(t, "k2025"), newKey(t, "k2026")
			onlyOld, both, onlyNew := newKeyring(t, oldKey), newKeyring(t, newKey, oldKey), newKeyring(t, newKey)

			before := persistence.NewAuthorizationStore(db, onlyOld)
			want := map[uuid.UUID]provider.Credentials{}
			var withSecrets int
			for i := range 7 {
				p := newStoredProvider(t, db)
				c := secretCredentials(p)
				switch i {
				case 0: // nothing to encrypt
					c = provider.Credentials{}
				case 1: // Plaid: no refresh token
					c.RefreshToken = ""
				default:
				}
				a := granted(p, c)
				if i == 0 {
					a = provider.NewAuthorization(p, uuid.New(), provider.NewState(), time.Now().Add(time.Minute), time.Now())
				} else {
					withSecrets++
				}
				put(t, before, a)
				want[p.ID()] = c
			}
			updatedAt := map[uuid.UUID]string{}
			for id := range want {
				updatedAt[id] = string(rawRow(t, db, id)["updated_at"])
			}

			rotated := persistence.NewAuthorizationStore(db, both)
			persistence.SetReencryptBatch(rotated, 2) // several batches, one of them short
			assertReads(t, rotated, want)
			assertKeys(t, db, both, want, false)

			// With the new key alone, the old rows are intact but unreadable, and
			// re-encryption can do nothing but say so.
			premature := persistence.NewAuthorizationStore(db, onlyNew)
			for id, c := range want {
				if c.IsZero() {
					continue
				}
				if _, err := premature.AuthorizationByProvider(t.Context(), id); !errors.Is(err, vault.ErrUnknownKey) {
					t.Errorf("a row under a retired key: got %v, want ErrUnknownKey", err)
				}
			}
			if n, err := premature.ReencryptAll(t.Context()); n != 0 || !errors.Is(err, vault.ErrUnknownKey) {
				t.Errorf("ReencryptAll without the old key = %d, %v; want 0 and ErrUnknownKey", n, err)
			}

			n, err := rotated.ReencryptAll(t.Context())
			if err != nil || n != withSecrets {
				t.Fatalf("ReencryptAll = %d, %v; want %d rows re-encrypted", n, err, withSecrets)
			}
			assertKeys(t, db, both, want, true)
			for id, was := range updatedAt {
				if now := string(rawRow(t, db, id)["updated_at"]); now != was {
					t.Errorf("re-encryption changed updated_at of %s from %s to %s", id, was, now)
				}
			}
			if n, err := rotated.ReencryptAll(t.Context()); n != 0 || err != nil {
				t.Errorf("ReencryptAll again = %d, %v; want 0, nil", n, err)
			}

			assertReads(t, persistence.NewAuthorizationStore(db, onlyNew), want)
			retired := persistence.NewAuthorizationStore(db, onlyOld)
			for id, c := range want {
				if c.IsZero() {
					continue
				}
				if _, err := retired.AuthorizationByProvider(t.Context(), id); !errors.Is(err, vault.ErrUnknownKey) {
					t.Errorf("the old key alone still reads %s: %v", id, err)
				}
			}
		})
	}
}

func assertReads(t *testing.T, st *persistence.AuthorizationStore, want map[uuid.UUID]provider.Credentials) {
	t.Helper()
	for id, c := range want {
		a, err := st.AuthorizationByProvider(t.Context(), id)
		if err != nil {
			t.Errorf("AuthorizationByProvider(%s): %v", id, err)
			continue
		}
		got := a.Credentials()
		if got.AccessToken != c.AccessToken || got.RefreshToken != c.RefreshToken || got.ExternalID != c.ExternalID {
			t.Errorf("credentials of %s do not read back", id)
		}
	}
}

// assertKeys checks that every stored ciphertext is (primary) or is not
// (!primary) under ring's primary key, and that empty credentials are NULL.
func assertKeys(t *testing.T, db *persistence.DB, ring *vault.Keyring, want map[uuid.UUID]provider.Credentials, primary bool) {
	t.Helper()
	for id, c := range want {
		row := rawRow(t, db, id)
		for col, plain := range map[string]string{
			"access_token_ct": c.AccessToken, "refresh_token_ct": c.RefreshToken, "external_id_ct": c.ExternalID,
		} {
			ct := row[col]
			switch {
			case plain == "" && ct != nil:
				t.Errorf("%s of %s = %x, want NULL for an empty credential", col, id, ct)
			case plain != "" && ring.IsPrimary(ct) != primary:
				t.Errorf("%s of %s: under the primary key %v, want %v", col, id, !primary, primary)
			}
		}
	}
}

// While an update holds an authorization's row lock, a claim on Postgres skips
// that row at once instead of waiting for it (FOR UPDATE SKIP LOCKED). SQLite
// runs one writer at a time, so there the claim waits.
func TestAuthorizationClaimSkipsLockedRowsPostgres(t *testing.T) {
	db := dbtest.Postgres(t)
	st := persistence.NewAuthorizationStore(db, newKeyring(t, newKey(t, "k1")))
	locked, free := newStoredProvider(t, db), newStoredProvider(t, db)
	for _, p := range []*provider.Provider{locked, free} {
		put(t, st, granted(p, secretCredentials(p)))
	}
	holding, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		_, _, err := st.UpdateAuthorization(context.Background(), locked.ID(), func(_ *provider.Provider, a *provider.Authorization) (*provider.Authorization, error) {
			close(holding)
			<-release
			return a, nil
		})
		done <- err
	}()
	<-holding
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer cancel()
	now := time.Now()
	got, err := st.ClaimDueRefreshes(ctx, uuid.New(), now, now.Add(time.Hour), now.Add(time.Minute), 10)
	close(release)
	if err != nil {
		t.Fatalf("ClaimDueRefreshes while a row is locked: %v", err)
	}
	if len(got) != 1 || got[0].ProviderID() != free.ID() {
		t.Errorf("claimed %d authorizations, want only the unlocked one", len(got))
	}
	if err := <-done; err != nil {
		t.Fatalf("the locking update: %v", err)
	}
}

// Every method reports a database it cannot use as domain.ErrUnavailable, so the
// API answers 503 rather than 500, and calls no closure.
func TestAuthorizationStoreUnavailableDatabase(t *testing.T) {
	for name, open := range dialects {
		t.Run(name, func(t *testing.T) {
			db := open(t)
			st := persistence.NewAuthorizationStore(db, newKeyring(t, newKey(t, "k1")))
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			ctx, now := t.Context(), time.Now()
			calls := map[string]func() error{
				"AuthorizationByProvider": func() error { _, err := st.AuthorizationByProvider(ctx, uuid.New()); return err },
				"AuthorizationByState": func() error {
					_, err := st.AuthorizationByState(ctx, provider.NewState().Hash)
					return err
				},
				"UpdateAuthorization": func() error {
					_, _, err := st.UpdateAuthorization(ctx, uuid.New(), func(*provider.Provider, *provider.Authorization) (*provider.Authorization, error) {
						t.Error("closure called although the database is unavailable")
						return nil, nil
					})
					return err
				},
				"ClaimDueRefreshes": func() error {
					_, err := st.ClaimDueRefreshes(ctx, uuid.New(), now, now, now, 10)
					return err
				},
				"ReencryptAll": func() error { _, err := st.ReencryptAll(ctx); return err },
			}
			for name, call := range calls {
				if err := call(); !errors.Is(err, domain.ErrUnavailable) {
					t.Errorf("%s: got %v, want ErrUnavailable", name, err)
				}
			}
		})
	}
}

func newKey(t testing.TB, id string) vault.Key {
	t.Helper()
	secret := make([]byte, vault.KeySize)
	if _, err := rand.Read(secret); err != nil {
		t.Fatal(err)
	}
	return vault.Key{ID: id, Secret: secret}
}

func newKeyring(t testing.TB, keys ...vault.Key) *vault.Keyring {
	t.Helper()
	r, err := vault.New(keys)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// newStoredProvider stores a new user with one provider.
func newStoredProvider(t *testing.T, db *persistence.DB) *provider.Provider {
	t.Helper()
	user, err := authorizationcontract.UsersVia(persistence.NewIdentityStore(db, persistence.DefaultSessionCacheTTL, discardJobs{}))(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return newStoredProviderOf(t, db, user, "My Schwab")
}

func newStoredProviderOf(t *testing.T, db *persistence.DB, user uuid.UUID, alias string) *provider.Provider {
	t.Helper()
	p, err := provider.New(uuid.New(), user, "schwab", alias, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := persistence.NewProviderStore(db).CreateProvider(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	return p
}

func mustProviderOf(t *testing.T, db *persistence.DB, id uuid.UUID) *provider.Provider {
	t.Helper()
	p, err := persistence.NewProviderStore(db).ProviderByID(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// secretCredentials are p's credentials, each unique and recognisable.
func secretCredentials(p *provider.Provider) provider.Credentials {
	return provider.Credentials{
		AccessToken:      "ACCESS-TOKEN-plaintext-" + p.ID().String(),
		RefreshToken:     "REFRESH-TOKEN-plaintext-" + p.ID().String(),
		ExpiresAt:        time.Now().Add(time.Minute),
		RefreshExpiresAt: time.Now().Add(7 * 24 * time.Hour),
		Scopes:           []string{"accounts:read", "trading"},
		ExternalID:       "item-sandbox-plaintext-" + p.ID().String(),
	}
}

// granted is an active authorization of p holding c.
func granted(p *provider.Provider, c provider.Credentials) *provider.Authorization {
	now := time.Now()
	state := provider.NewState()
	a := provider.NewAuthorization(p, uuid.New(), state, now.Add(provider.StateTTL), now)
	if err := a.ConsumeState(state.Value, now); err != nil {
		panic(err)
	}
	a.Grant(c, now)
	return a
}

func put(t *testing.T, st *persistence.AuthorizationStore, a *provider.Authorization) {
	t.Helper()
	_, _, err := st.UpdateAuthorization(t.Context(), a.ProviderID(), func(*provider.Provider, *provider.Authorization) (*provider.Authorization, error) {
		return a, nil
	})
	if err != nil {
		t.Fatalf("UpdateAuthorization: %v", err)
	}
}

// rawRow reads an authorization row with plain SQL, each column as the bytes
// the driver hands over (NULL as nil).
func rawRow(t *testing.T, db *persistence.DB, providerID uuid.UUID) map[string][]byte {
	t.Helper()
	rows, err := db.Gorm.Raw("SELECT * FROM authorizations WHERE provider_id = ?", providerID).Rows()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = rows.Close() }()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	if !rows.Next() {
		t.Fatalf("no authorization row for provider %s", providerID)
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		t.Fatal(err)
	}
	out := make(map[string][]byte, len(cols))
	for i, c := range cols {
		switch v := vals[i].(type) {
		case nil:
			out[c] = nil
		case []byte:
			out[c] = bytes.Clone(v)
		case string:
			out[c] = []byte(v)
		case time.Time:
			out[c] = []byte(v.UTC().Format(time.RFC3339Nano))
		default:
			out[c] = fmt.Append(nil, v)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// recordingJobs records the jobs enqueued, as the engine would insert them in
// the transaction (a rolled-back transaction's jobs stay recorded: the tests
// look at them only after a commit).
type recordingJobs struct {
	mu   sync.Mutex
	jobs []jobsapp.Job
}

func (q *recordingJobs) EnqueueTx(_ context.Context, _ *sql.Tx, job jobsapp.Job) (bool, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.jobs = append(q.jobs, job)
	return false, nil
}

// Hardening item 3, in the store: a revocation that sets its credentials
// aside wipes them from the authorization and keeps them, encrypted and bound
// to their row, with the job that revokes them at the institution; forgotten,
// they are gone. A job that cannot be enqueued rolls the revocation back.
func TestSetAsideCredentialsAreKeptEncryptedWithTheirJobAndForgotten(t *testing.T) {
	for name, open := range dialects {
		t.Run(name, func(t *testing.T) {
			if name == "postgres" {
				dbtest.PostgresURL(t)
			}
			db := open(t)
			queue := &recordingJobs{}
			ring := newKeyring(t, newKey(t, "k1"))
			st := persistence.NewAuthorizationStore(db, ring, persistence.WithSetAside(queue))
			p := newStoredProvider(t, db)
			creds := secretCredentials(p)
			put(t, st, granted(p, creds))
			revokeLater := func(p *provider.Provider, a *provider.Authorization) (*provider.Authorization, error) {
				a.RevokeLater(time.Now())
				p.FollowAuthorization(a, time.Now())
				return a, nil
			}

			failing := persistence.NewAuthorizationStore(db, ring, persistence.WithSetAside(failingJobs{}))
			if _, _, err := failing.UpdateAuthorization(t.Context(), p.ID(), revokeLater); !errors.Is(err, errEnqueue) {
				t.Fatalf("revocation with a failing queue: %v, want the queue's error", err)
			}
			if a, err := st.AuthorizationByProvider(t.Context(), p.ID()); err != nil || !a.IsAuthorized() {
				t.Fatalf("after the failed revocation: %v, %v; want the grant kept", a, err)
			}

			if _, _, err := st.UpdateAuthorization(t.Context(), p.ID(), revokeLater); err != nil {
				t.Fatalf("UpdateAuthorization: %v", err)
			}
			if a, err := st.AuthorizationByProvider(t.Context(), p.ID()); err != nil || !a.Credentials().IsZero() || a.Status() != provider.AuthorizationRevoked {
				t.Fatalf("after the revocation: %+v, %v; want revoked with no credentials", a, err)
			}
			if len(queue.jobs) != 1 {
				t.Fatalf("jobs enqueued: %v, want one RevokeJob", queue.jobs)
			}
			job, ok := queue.jobs[0].(providersapp.RevokeJob)
			if !ok {
				t.Fatalf("enqueued %T, want a RevokeJob", queue.jobs[0])
			}
			var ct []byte
			if err := db.Gorm.Raw("SELECT credentials_ct FROM set_aside_credentials WHERE id = ?", job.SetAsideID).Row().Scan(&ct); err != nil {
				t.Fatalf("the set-aside row: %v", err)
			}
			if bytes.Contains(ct, []byte(creds.AccessToken)) || bytes.Contains(ct, []byte(creds.RefreshToken)) {
				t.Error("the set-aside row holds a token in clear")
			}
			sa, err := st.SetAsideCredentials(t.Context(), job.SetAsideID)
			if err != nil {
				t.Fatalf("SetAsideCredentials: %v", err)
			}
			if sa.ProviderKey != p.Key() || sa.Credentials.AccessToken != creds.AccessToken || sa.Credentials.RefreshToken != creds.RefreshToken ||
				sa.Credentials.ExternalID != creds.ExternalID || !slices.Equal(sa.Credentials.Scopes, creds.Scopes) {
				t.Errorf("set aside %+v, want the grant's credentials of type %s", sa, p.Key())
			}
			if err := st.ForgetSetAside(t.Context(), job.SetAsideID); err != nil {
				t.Fatal(err)
			}
			if _, err := st.SetAsideCredentials(t.Context(), job.SetAsideID); !errors.Is(err, domain.ErrNotFound) {
				t.Errorf("after ForgetSetAside: %v, want ErrNotFound", err)
			}
		})
	}
}
