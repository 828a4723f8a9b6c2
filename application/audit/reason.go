package audit

import (
	"errors"

	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/domain/identity"
)

// Reason returns the reason code of a failure: a fixed word, never the
// error's text (which may quote input).
func Reason(err error) string {
	var verr *domain.ValidationError
	switch {
	case err == nil:
		return ""
	case errors.Is(err, identity.ErrInvalidCredentials):
		return "invalid_credentials"
	case errors.Is(err, identity.ErrUserDisabled):
		return "user_disabled"
	case errors.Is(err, identity.ErrInvalidOneTimeToken):
		return "invalid_token"
	case errors.Is(err, identity.ErrNotAdmin):
		return "not_admin"
	case errors.Is(err, identity.ErrLastAdmin):
		return "last_admin"
	case errors.As(err, &verr):
		return "invalid_input"
	case errors.Is(err, domain.ErrNotFound):
		return "not_found"
	case errors.Is(err, domain.ErrPreconditionFailed):
		return "precondition_failed"
	case errors.Is(err, domain.ErrConflict):
		return "conflict"
	case errors.Is(err, domain.ErrUnauthenticated):
		return "unauthenticated"
	case errors.Is(err, domain.ErrForbidden):
		return "forbidden"
	case errors.Is(err, domain.ErrReauthorizationRequired):
		return "reauthorization_required"
	case errors.Is(err, domain.ErrProviderUnavailable), errors.Is(err, domain.ErrProviderTimeout):
		return "provider_unavailable"
	case errors.Is(err, domain.ErrInvalidRequest):
		return "invalid_request"
	default:
		return "error"
	}
}

// Result returns the outcome and reason of an action that ended with err.
func Result(err error) (Outcome, string) {
	if err == nil {
		return Success, ""
	}
	return Failure, Reason(err)
}
