package sandbox

import "net/http"

// NewWithWrappedInstitution builds a Connector whose in-process transport
// serves wrap(institution), so tests can make the institution fail.
func NewWithWrappedInstitution(cfg Config, wrap func(http.Handler) http.Handler) (*Connector, error) {
	return newConnector(cfg, wrap)
}
