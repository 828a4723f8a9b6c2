package httpapi

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/routers"
	"github.com/gin-gonic/gin"
)

// specYAML is the API contract. The generated server (package api), request
// validation, the served /openapi.json and the tests all derive from it.
//
//go:embed openapi.yaml
var specYAML []byte

// Spec is the parsed OpenAPI document with an index from Gin route templates to
// operations.
type Spec struct {
	Doc  *openapi3.T
	JSON []byte // the document as served at /openapi.json
	ops  map[string]*operation
}

// operation is what the middleware needs to know about one documented route.
type operation struct {
	route        *routers.Route
	requiresAuth bool
	hasBody      bool
	// rateTier is the tier that limits the operation (its x-rate-limit-tier),
	// or "" when none does.
	rateTier string
	// honoursIdempotencyKey is true when its x-idempotency is "key".
	honoursIdempotencyKey bool
	// queryParams are the query parameters the operation declares. Under
	// /api/v1 any other is refused (422), like an unknown JSON field; nil means
	// the operation accepts whatever it is sent (probes and docs pages).
	queryParams map[string]bool
	// streaming is true when the operation answers a long-lived stream (its
	// x-streaming): the request timeout and compression leave it alone.
	streaming bool
}

// extStreaming, true on an operation, marks a long-lived streamed answer
// (Server-Sent Events): no request timeout bounds it and it is not
// compressed, since gzip would hold events back.
const extStreaming = "x-streaming"

var pathParam = regexp.MustCompile(`\{([^}]+)\}`)

// LoadSpec parses and validates the embedded OpenAPI document, including the
// policy each operation declares in vendor extensions (extRateLimitTier,
// extIdempotency).
func LoadSpec() (*Spec, error) { return loadSpec(specYAML) }

// loadSpec is LoadSpec on the document data.
func loadSpec(data []byte) (*Spec, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(data)
	if err != nil {
		return nil, fmt.Errorf("parse openapi.yaml: %w", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("invalid openapi.yaml: %w", err)
	}
	js, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	s := &Spec{Doc: doc, JSON: js, ops: map[string]*operation{}}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			security := doc.Security
			if op.Security != nil {
				security = *op.Security
			}
			tier, err := rateTierOf(op)
			if err != nil {
				return nil, fmt.Errorf("invalid openapi.yaml: %s %s: %w", method, path, err)
			}
			honoursKey, err := honoursIdempotencyKeyOf(method, op)
			if err != nil {
				return nil, fmt.Errorf("invalid openapi.yaml: %s %s: %w", method, path, err)
			}
			s.ops[routeKey(method, GinPath(path))] = &operation{
				route: &routers.Route{Spec: doc, Path: path, PathItem: item, Method: method, Operation: op},
				// Every protected operation uses the one bearer scheme.
				requiresAuth:          len(security) > 0,
				hasBody:               op.RequestBody != nil,
				rateTier:              tier,
				honoursIdempotencyKey: honoursKey,
				queryParams:           queryParamsOf(path, item, op),
				streaming:             op.Extensions[extStreaming] == true,
			}
		}
	}
	return s, nil
}

// extAdditionalQueryParameters, true on an operation, accepts query parameters
// it does not declare: the OAuth callbacks, where the institution decides what
// it appends to the redirect (Schwab adds session=).
const extAdditionalQueryParameters = "x-additional-query-parameters"

// queryParamsOf returns the names of the query parameters an operation of the
// versioned API declares, on the operation or on its path; nil (any is
// accepted) outside it and where the operation says so.
func queryParamsOf(path string, item *openapi3.PathItem, op *openapi3.Operation) map[string]bool {
	if !strings.HasPrefix(path, apiBase+"/") || op.Extensions[extAdditionalQueryParameters] == true {
		return nil
	}
	names := map[string]bool{}
	for _, params := range []openapi3.Parameters{item.Parameters, op.Parameters} {
		for _, p := range params {
			if p.Value != nil && p.Value.In == openapi3.ParameterInQuery {
				names[p.Value.Name] = true
			}
		}
	}
	return names
}

// GinPath turns an OpenAPI path template (/providers/{id}) into Gin's (/providers/:id).
func GinPath(openapiPath string) string {
	return pathParam.ReplaceAllString(openapiPath, ":$1")
}

func routeKey(method, ginPath string) string { return method + " " + ginPath }

// streaming reports whether the request's operation is a stream (its
// x-streaming); false on a nil Spec (routers that serve no document).
func (s *Spec) streaming(c *gin.Context) bool {
	if s == nil {
		return false
	}
	op := s.lookup(c.Request.Method, c.FullPath())
	return op != nil && op.streaming
}

// Operations lists "METHOD /gin/path" for every documented operation.
func (s *Spec) Operations() []string {
	keys := make([]string, 0, len(s.ops))
	for k := range s.ops {
		keys = append(keys, k)
	}
	return keys
}

// lookup finds the operation of a route. HEAD is served by every GET route and
// has exactly its operation, security requirement included.
func (s *Spec) lookup(method, ginPath string) *operation {
	if method == http.MethodHead {
		method = http.MethodGet
	}
	return s.ops[routeKey(method, ginPath)]
}
