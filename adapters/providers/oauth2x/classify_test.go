package oauth2x

import (
	"errors"
	"net/http"
	"testing"

	"github.com/dashtam/dashtam/domain"
)

func TestRejectionKinds(t *testing.T) {
	cases := []struct {
		name   string
		reject rejection
		status int
		code   string
		want   error
	}{
		{"exchange: used code", exchangeRejection, http.StatusBadRequest, "invalid_grant", domain.ErrInvalidRequest},
		{"exchange: other 400", exchangeRejection, http.StatusBadRequest, "invalid_request", domain.ErrInvalidRequest},
		{"exchange: grant error on a 200", exchangeRejection, http.StatusOK, "invalid_grant", domain.ErrInvalidRequest},
		{"exchange: our credentials refused", exchangeRejection, http.StatusUnauthorized, "invalid_client", domain.ErrProviderUnavailable},
		{"exchange: invalid_client on a 400", exchangeRejection, http.StatusBadRequest, "invalid_client", domain.ErrProviderUnavailable},
		{"exchange: server error", exchangeRejection, http.StatusBadGateway, "", domain.ErrProviderUnavailable},
		{"exchange: rate limited", exchangeRejection, http.StatusTooManyRequests, "", domain.ErrProviderUnavailable},
		{"refresh: invalid_grant", refreshRejection, http.StatusBadRequest, "invalid_grant", domain.ErrReauthorizationRequired},
		{"refresh: any 401", refreshRejection, http.StatusUnauthorized, "", domain.ErrReauthorizationRequired},
		{"refresh: unsupported_token_type", refreshRejection, http.StatusBadRequest, "unsupported_token_type", domain.ErrReauthorizationRequired},
		{"refresh: grant error on a 200", refreshRejection, http.StatusOK, "invalid_grant", domain.ErrReauthorizationRequired},
		{"refresh: server error", refreshRejection, http.StatusInternalServerError, "", domain.ErrProviderUnavailable},
		{"refresh: rate limited", refreshRejection, http.StatusTooManyRequests, "", domain.ErrProviderUnavailable},
	}
	for _, tc := range cases {
		if got := tc.reject(tc.status, tc.code); !errors.Is(got, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}
