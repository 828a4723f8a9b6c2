package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"maps"
	"mime"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/gin-gonic/gin"

	"github.com/dashtam/dashtam/domain"
)

const ctxBody = "dashtam.body"

// validateRequest checks every documented request against the OpenAPI document
// before a handler runs: media type (415), size (413), JSON syntax (400), then
// parameters and body schema (422, one entry per offending field). Unknown JSON
// fields are schema violations (additionalProperties: false), so nobody can
// mass-assign user_id or status.
func validateRequest(spec *Spec, maxBody int64, log *slog.Logger) gin.HandlerFunc {
	opts := &openapi3filter.Options{
		MultiError: true,
		// Never rewrite the request: a handler must see what the client sent (an
		// absent page is not page=1 when deciding between list modes).
		SkipSettingDefaults: true,
		// Authentication is enforced by the authenticate middleware.
		AuthenticationFunc: func(context.Context, *openapi3filter.AuthenticationInput) error { return nil },
	}
	return func(c *gin.Context) {
		op := spec.lookup(c.Request.Method, c.FullPath())
		if op == nil {
			c.Next()
			return
		}
		if err := unknownQueryParameters(c.Request.URL.Query(), op.queryParams); err != nil {
			writeProblem(c, log, err)
			return
		}
		if err := unreadableQueryValues(c.Request.URL.Query()); err != nil {
			writeProblem(c, log, err)
			return
		}
		if op.hasBody {
			body, err := readJSONBody(c, op.route.Operation.RequestBody.Value, maxBody)
			if err != nil {
				writeProblem(c, log, err)
				return
			}
			c.Set(ctxBody, body)
			c.Request.Body = io.NopCloser(bytes.NewReader(body))
		}
		params := make(map[string]string, len(c.Params))
		for _, p := range c.Params {
			params[p.Key] = p.Value
		}
		err := openapi3filter.ValidateRequest(c.Request.Context(), &openapi3filter.RequestValidationInput{
			Request:    c.Request,
			PathParams: params,
			Route:      op.route,
			Options:    opts,
		})
		if body, ok := c.Get(ctxBody); ok {
			c.Request.Body = io.NopCloser(bytes.NewReader(body.([]byte)))
		}
		if err != nil {
			writeProblem(c, log, toValidationError(err))
			return
		}
		c.Next()
	}
}

// maxEchoedParameterName bounds how much of an unknown parameter's name a
// problem body repeats.
const maxEchoedParameterName = 64

// unknownQueryParameters refuses the query parameters an operation does not
// declare (declared nil: it accepts any), naming each once, so that a typo
// (?stauts=, ?offset= for ?page=) is a 422 rather than a 200 with other data
// than the client asked for.
func unknownQueryParameters(query map[string][]string, declared map[string]bool) error {
	if declared == nil {
		return nil
	}
	var names []string
	for name := range query {
		if !declared[name] {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return nil
	}
	slices.Sort(names)
	verr := &domain.ValidationError{}
	for _, name := range names {
		if len(name) > maxEchoedParameterName || !utf8.ValidString(name) || domain.HasControl(name) {
			name = "(unprintable parameter name)"
		}
		verr.Add(name, "unknown_parameter", "This query parameter is not accepted here; the API reference lists the ones that are.")
	}
	return verr
}

// unreadableQueryValues refuses query values that are not UTF-8 or hold a
// NUL, naming each parameter once: no such value reaches a filter, a stored
// column or Postgres, which refuses both (hardening item 15).
func unreadableQueryValues(query map[string][]string) error {
	verr := &domain.ValidationError{}
	names := slices.Sorted(maps.Keys(query))
	for _, name := range names {
		if slices.ContainsFunc(query[name], func(v string) bool { return !utf8.ValidString(v) || strings.ContainsRune(v, 0) }) {
			if len(name) > maxEchoedParameterName || !utf8.ValidString(name) || domain.HasControl(name) {
				name = "(unprintable parameter name)"
			}
			verr.Add(name, "invalid_characters", "The value must be UTF-8 text without NUL characters.")
		}
	}
	return verr.OrNil()
}

// readJSONBody enforces the media type, the size cap and JSON syntax.
func readJSONBody(c *gin.Context, rb *openapi3.RequestBody, maxBody int64) ([]byte, error) {
	mediaType, _, err := mime.ParseMediaType(c.GetHeader("Content-Type"))
	if err != nil || rb.Content.Get(mediaType) == nil {
		return nil, errUnsupportedMediaType
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, maxBody))
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return nil, errBodyTooLarge
	}
	if err != nil {
		return nil, errMalformedJSON
	}
	if len(bytes.TrimSpace(body)) == 0 || !json.Valid(body) || !utf8.Valid(body) || !plainJSONText(body) {
		return nil, errMalformedJSON
	}
	return body, nil
}

// plainJSONText reports whether body, valid JSON, has no key twice in one
// object: Go's decoder would keep the last of two keys, another parser the
// first, and the two would act on different values (hardening item 21).
// Control characters, NUL among them, are refused field by field, with a 422
// naming the field (domain.HasHiddenText), before anything is stored.
func plainJSONText(body []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(body))
	// keys holds the keys seen in each object open around the decoder, and
	// nil for each array; atKey tells whether the next string is a key.
	var keys []map[string]bool
	atKey := func() bool { return len(keys) > 0 && keys[len(keys)-1] != nil }
	expectKey := true
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return true
		}
		if err != nil {
			return false
		}
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{':
				keys = append(keys, map[string]bool{})
				expectKey = true
				continue
			case '[':
				keys = append(keys, nil)
			default:
				keys = keys[:len(keys)-1]
			}
		case string:
			if atKey() && expectKey {
				if keys[len(keys)-1][v] {
					return false
				}
				keys[len(keys)-1][v] = true
				expectKey = false
				continue
			}
		}
		// A value was read: inside an object, a key comes next.
		expectKey = atKey()
	}
}

// decodeBody decodes the validated request body into v.
func decodeBody(c *gin.Context, v any) error {
	raw, _ := c.Get(ctxBody)
	body, _ := raw.([]byte)
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		// The document already accepted this body, so a mismatch is our bug.
		return err
	}
	return nil
}

var quotedName = regexp.MustCompile(`property "([^"]+)"`)

// toValidationError turns kin-openapi's errors into one ValidationError naming each
// offending field or parameter. Only schema reasons are used, never the rejected
// value, so nothing the client sent (a password) is echoed back.
func toValidationError(err error) error {
	verr := &domain.ValidationError{}
	var walk func(error)
	walk = func(err error) {
		// Outer layers first: a RequestError unwraps to a MultiError, and must be
		// seen before it so that a parameter's name is not lost.
		var reqErr *openapi3filter.RequestError
		if multi, ok := err.(openapi3.MultiError); ok { //nolint:errorlint // only this layer, see above
			for _, e := range multi {
				walk(e)
			}
			return
		}
		if errors.As(err, &reqErr) {
			if reqErr.Parameter != nil {
				verr.Add(reqErr.Parameter.Name, parameterCode(reqErr), parameterMessage(reqErr))
				return
			}
			if reqErr.Err != nil {
				walk(reqErr.Err)
				return
			}
			verr.Add("body", "invalid", reqErr.Reason)
			return
		}
		var schemaErr *openapi3.SchemaError
		if errors.As(err, &schemaErr) {
			pointer := schemaErr.JSONPointer()
			code, message := schemaCode(schemaErr.SchemaField), schemaMessage(schemaErr)
			if strings.HasSuffix(schemaErr.Reason, "is unsupported") {
				code, message = "unknown_field", "This field is not accepted here."
			}
			// For a missing or unknown property the reason names it; the pointer may
			// or may not already end with it.
			if m := quotedName.FindStringSubmatch(schemaErr.Reason); m != nil && (len(pointer) == 0 || pointer[len(pointer)-1] != m[1]) {
				pointer = append(pointer, m[1])
			}
			field := strings.Join(pointer, ".")
			if field == "" {
				field = "body"
			}
			verr.Add(field, code, message)
			return
		}
		verr.Add("request", "invalid", "The request does not match the API description.")
	}
	walk(err)
	return verr.OrNil()
}

func schemaCode(keyword string) string {
	switch keyword {
	case "required":
		return "required"
	case "maxLength", "maxItems":
		return "too_long"
	case "minLength", "minItems", "minProperties":
		return "too_short"
	case "maximum":
		return "too_large"
	case "minimum":
		return "too_small"
	case "enum":
		return "invalid_choice"
	case "type":
		return "invalid_type"
	case "format", "pattern":
		return "invalid_format"
	}
	return "invalid"
}

func schemaMessage(e *openapi3.SchemaError) string {
	switch e.SchemaField {
	case "required":
		return "This field is required."
	}
	return upperFirst(e.Reason) + "."
}

func parameterCode(e *openapi3filter.RequestError) string {
	var schemaErr *openapi3.SchemaError
	if errors.As(e.Err, &schemaErr) {
		return schemaCode(schemaErr.SchemaField)
	}
	if strings.Contains(e.Reason, "required") || errors.Is(e.Err, openapi3filter.ErrInvalidRequired) {
		return "required"
	}
	return "invalid"
}

func parameterMessage(e *openapi3filter.RequestError) string {
	var schemaErr *openapi3.SchemaError
	if errors.As(e.Err, &schemaErr) {
		return "Parameter " + e.Parameter.Name + ": " + schemaErr.Reason + "."
	}
	var parseErr *openapi3filter.ParseError
	if errors.As(e.Err, &parseErr) {
		return "Parameter " + e.Parameter.Name + " has an invalid value."
	}
	if errors.Is(e.Err, openapi3filter.ErrInvalidRequired) {
		return "Parameter " + e.Parameter.Name + " is required."
	}
	return "Parameter " + e.Parameter.Name + " is invalid."
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

var boundParam = regexp.MustCompile(`(?:parameter|value for) ([A-Za-z0-9_-]+)`)

// bindingError names the parameter the generated binding refused (its errors
// are plain text such as "Expected one value for Idempotency-Key, got 2").
func bindingError(err error) error {
	name := "request"
	if m := boundParam.FindStringSubmatch(err.Error()); m != nil {
		name = m[1]
	}
	return domain.NewValidationError(name, "invalid", "Parameter "+name+" must be given once, in its documented format.")
}
