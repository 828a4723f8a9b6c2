package accesstoken

import (
	"errors"

	"github.com/golang-jwt/jwt/v5"

	"github.com/dashtam/dashtam/domain"
)

// rejection is why a token was refused. Its text is fixed, so nothing from the
// token (not even an attacker-chosen "alg" value) reaches a log line, and it
// unwraps to domain.ErrUnauthenticated for the HTTP error table.
type rejection struct{ reason string }

func (e *rejection) Error() string { return "access token rejected: " + e.reason }
func (e *rejection) Unwrap() error { return domain.ErrUnauthenticated }

// Every reason Verify can give. They are preallocated so rejecting garbage, the
// common case under attack, costs no allocation for the error itself.
var (
	errMalformed       = &rejection{"malformed"}
	errAlgorithm       = &rejection{"algorithm not allowed"}
	errSignature       = &rejection{"bad signature"}
	errWrongType       = &rejection{`"typ" header is not "at+jwt"`}
	errMissingKeyID    = &rejection{`missing "kid" header`}
	errUnknownKeyID    = &rejection{"unknown key id"}
	errExpired         = &rejection{"expired"}
	errIssuedInFuture  = &rejection{"issued in the future"}
	errNotYetValid     = &rejection{"not valid yet"}
	errIssuer          = &rejection{"wrong issuer"}
	errAudience        = &rejection{"wrong audience"}
	errMissingClaim    = &rejection{"missing required claim"}
	errBadClaim        = &rejection{"malformed claim"}
	errInvalidToken    = &rejection{"invalid"}
	ownRejections      = []*rejection{errWrongType, errMissingKeyID, errUnknownKeyID}
	jwtClaimRejections = []struct {
		jwt  error
		ours *rejection
	}{
		// Claim errors can come joined; the order decides which one is reported.
		{jwt.ErrTokenExpired, errExpired},
		{jwt.ErrTokenUsedBeforeIssued, errIssuedInFuture},
		{jwt.ErrTokenNotValidYet, errNotYetValid},
		{jwt.ErrTokenInvalidIssuer, errIssuer},
		{jwt.ErrTokenInvalidAudience, errAudience},
		{jwt.ErrTokenRequiredClaimMissing, errMissingClaim},
		{jwt.ErrTokenMalformed, errMalformed},
		{jwt.ErrTokenInvalidClaims, errBadClaim},
	}
)

// classify turns a jwt error into one of our fixed rejections. t is the partly
// parsed token, if any, used to tell a forbidden algorithm from a bad signature
// (jwt reports both as ErrTokenSignatureInvalid).
func classify(t *jwt.Token, err error) error {
	for _, r := range ownRejections {
		if errors.Is(err, r) {
			return r
		}
	}
	if errors.Is(err, jwt.ErrTokenSignatureInvalid) || errors.Is(err, jwt.ErrTokenUnverifiable) {
		if t == nil || t.Method == nil || t.Method != signingMethod {
			return errAlgorithm
		}
		return errSignature
	}
	for _, r := range jwtClaimRejections {
		if errors.Is(err, r.jwt) {
			return r.ours
		}
	}
	return errInvalidToken
}
