package accesstoken

import (
	"errors"
	"testing"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/application/identity"
	"github.com/dashtam/dashtam/domain"
)

// FuzzVerify feeds arbitrary strings to Verify. Beyond not panicking, every
// rejection must be one of the fixed errors (so no part of the input can leak into
// a log line) and every acceptance must carry usable ids. The committed corpus in
// testdata/fuzz/FuzzVerify holds a valid token for testNow and near misses of it.
func FuzzVerify(f *testing.F) {
	i := newTestIssuer(f)
	valid, _, err := i.Issue(testUser, testSession, testNow)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(valid)
	f.Add(valid + "x")
	f.Add("")
	fixed := map[error]bool{}
	for _, e := range []*rejection{
		errMalformed, errAlgorithm, errSignature, errWrongType, errMissingKeyID, errUnknownKeyID,
		errExpired, errIssuedInFuture, errNotYetValid, errIssuer, errAudience, errMissingClaim,
		errBadClaim, errInvalidToken,
	} {
		fixed[e] = true
	}

	f.Fuzz(func(t *testing.T, token string) {
		claims, err := i.Verify(token, testNow)
		if err != nil {
			if !errors.Is(err, domain.ErrUnauthenticated) {
				t.Fatalf("error %v does not wrap domain.ErrUnauthenticated", err)
			}
			if !fixed[err] {
				t.Fatalf("error %q is not one of the fixed rejections", err)
			}
			if claims != (identity.AccessClaims{}) {
				t.Fatalf("claims %+v returned alongside an error", claims)
			}
			return
		}
		if claims.UserID == uuid.Nil || claims.SessionID == uuid.Nil || claims.TokenID == "" ||
			claims.IssuedAt.IsZero() || claims.ExpiresAt.IsZero() {
			t.Fatalf("accepted token with incomplete claims %+v", claims)
		}
	})
}
