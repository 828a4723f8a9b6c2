package httpapi

// apiBase is the path every versioned resource lives under; Location headers,
// links and the per-route tables of the middleware build on it.
const apiBase = "/api/v1"

// deref returns the value of an optional parameter the generated bindings hand
// over as a pointer, or def when the request left it out.
func deref[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}
