// Package idempotency holds the values of an Idempotency-Key record: the HTTP
// adapter decides what is claimed, stored and replayed, the persistence adapter
// keeps it in the database. Both name these types, and neither should import the
// other for them (the HTTP adapter would drag gin, kin-openapi, Prometheus and
// Redis into the persistence adapter), so they live here, in a leaf package that
// imports only the standard library.
package idempotency

import (
	"net/http"
	"time"
)

// UserScope is the Scope of the keys of the signed-in user with userID (a
// uuid's text): the account deletion erases them with the user.
func UserScope(userID string) string { return "user:" + userID }

// Key names one idempotent request of one caller.
type Key struct {
	// Scope is the caller: "user:<id>", or "ip:<address>" when anonymous.
	Scope string
	// Method and Route (the route template, /api/v1/providers/:provider_id)
	// name the operation.
	Method, Route string
	// Key is the client's Idempotency-Key.
	Key string
}

// Response is a stored answer, replayed byte for byte.
type Response struct {
	Status int
	// Header holds only the headers that are replayed with the answer (the HTTP
	// adapter chooses them); the others belong to the replaying request.
	Header http.Header
	Body   []byte
}

// Record is the state of one key.
type Record struct {
	Key Key
	// Fingerprint is the HMAC-SHA-256 of the request's path, query and body, so
	// the same key cannot be used for a different request. It is keyed with a
	// server secret because bodies carry passwords (registration): a plain hash
	// of a body whose email and name are known would let whoever reads the
	// table guess the password offline at hash speed.
	Fingerprint []byte
	// Owner is the random token of the request holding the claim; only it may
	// complete or release the record.
	Owner string
	// LockedAt is when the claim was taken; ExpiresAt when the record stops
	// counting (httpapi.IdempotencyTTL after LockedAt).
	LockedAt, ExpiresAt time.Time
	// Response is nil while the first request is still running.
	Response *Response
}
