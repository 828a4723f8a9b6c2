package schwab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // New York time for trade dates, wherever the binary runs

	"github.com/dashtam/dashtam/adapters/providers/httpx"
	"github.com/dashtam/dashtam/application/providers"
	"github.com/dashtam/dashtam/domain"
)

// DefaultAPIBaseURL is Schwab's Trader API, used when Config.APIBaseURL is
// empty.
const DefaultAPIBaseURL = "https://api.schwabapi.com/trader/v1"

// DefaultMaxDataResponseBytes caps one data answer when
// Config.MaxDataResponseBytes is zero: a window of 3,000 activities is a few
// megabytes.
const DefaultMaxDataResponseBytes int64 = 32 << 20

// DefaultRetryAfter is the wait when Schwab answers 429 without a usable
// Retry-After: its documented quota is 120 requests a minute.
const DefaultRetryAfter = time.Minute

var _ providers.DataConnector = (*Connector)(nil)

// api calls the Trader API's data endpoints.
type api struct {
	base   string
	client *http.Client
	now    func() time.Time
}

func newAPI(cfg Config) (*api, error) {
	base := cfg.APIBaseURL
	if base == "" {
		base = DefaultAPIBaseURL
	}
	if u, err := url.Parse(base); err != nil || u.Scheme == "" || u.Host == "" {
		return nil, errors.New("schwab connector: APIBaseURL must be an absolute URL")
	}
	maxBytes := cfg.MaxDataResponseBytes
	if maxBytes <= 0 {
		maxBytes = DefaultMaxDataResponseBytes
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	return &api{base: strings.TrimSuffix(base, "/"), client: httpx.NewClient(cfg.HTTPClient, cfg.Timeout, maxBytes), now: now}, nil
}

// get calls GET base+path?query with the access token and decodes the JSON
// answer into out. Failures are classified:
//   - 401: domain.ErrInvalidRequest (the access token was refused: refresh it);
//   - 429: *providers.RetryAfterError with Retry-After's delay;
//   - 5xx, other statuses, unreadable answers: domain.ErrProviderUnavailable;
//   - no answer in time: domain.ErrProviderTimeout.
//
// Schwab's {"message", "errors"} text is kept (redacted and truncated) as the
// detail; the access token never is.
func (a *api) get(ctx context.Context, op string, tokens providers.Tokens, path string, query url.Values, out any) error {
	u := a.base + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return httpx.Fail(domain.ErrProviderUnavailable, op, "cannot build the request", err)
	}
	req.Header.Set("Authorization", "Bearer "+tokens.AccessToken)
	req.Header.Set("Accept", "application/json")
	resp, err := a.client.Do(req)
	if err != nil {
		return httpx.ClassifyTransport(op, err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return classifyStatus(op, resp, tokens, a.now)
	}
	dec := json.NewDecoder(resp.Body)
	dec.UseNumber()
	if err := dec.Decode(out); err != nil {
		return httpx.Fail(domain.ErrProviderUnavailable, op, "answer is not the expected JSON", err)
	}
	return nil
}

// classifyStatus turns an answer other than 200 into the port's error kinds.
func classifyStatus(op string, resp *http.Response, tokens providers.Tokens, now func() time.Time) error {
	var body struct {
		Message string `json:"message"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&body)
	detail := fmt.Sprintf("answered %d", resp.StatusCode)
	if body.Message != "" {
		detail += ": " + body.Message
	}
	switch resp.StatusCode {
	case http.StatusUnauthorized:
		return httpx.Fail(domain.ErrInvalidRequest, op, detail+" (access token refused)", nil,
			tokens.AccessToken, tokens.RefreshToken)
	case http.StatusTooManyRequests:
		return fmt.Errorf("%s: %w", op, &providers.RetryAfterError{Delay: retryAfter(resp.Header.Get("Retry-After"), now)})
	}
	return httpx.Fail(domain.ErrProviderUnavailable, op, detail, nil, tokens.AccessToken, tokens.RefreshToken)
}

// retryAfter reads a Retry-After header: delay seconds or an HTTP date;
// DefaultRetryAfter when absent or unreadable.
func retryAfter(h string, now func() time.Time) time.Duration {
	if secs, err := strconv.Atoi(strings.TrimSpace(h)); err == nil && secs >= 0 {
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil {
		if d := t.Sub(now()); d > 0 {
			return d
		}
		return 0
	}
	return DefaultRetryAfter
}

// accountNumbers lists the grant's accounts as {plain number, hashValue}. The
// plain number stays inside the connector: only its last four characters
// leave it, as the mask.
func (c *Connector) accountNumbers(ctx context.Context, tokens providers.Tokens) ([]wireAccountNumber, error) {
	var list []wireAccountNumber
	if err := c.api.get(ctx, "schwab: list account numbers", tokens, "/accounts/accountNumbers", nil, &list); err != nil {
		return nil, err
	}
	for _, a := range list {
		if a.HashValue == "" {
			return nil, httpx.Fail(domain.ErrProviderUnavailable, "schwab: list account numbers", "an account has no hashValue", nil)
		}
	}
	return list, nil
}

// accountPath is the path of one account, named by its hashValue (never the
// plain number, which Schwab refuses and which must not travel in a URL).
func accountPath(hash string) string { return "/accounts/" + url.PathEscape(hash) }

// perAccount reports whether err is confined to one account (an institution
// failure answering for it), so the others are still delivered; errors that
// concern the whole grant (a refused token, a rate limit, a timeout,
// re-authorization) end the call.
func perAccount(err error) bool {
	if _, ok := errors.AsType[*providers.RetryAfterError](err); ok {
		return false
	}
	return errors.Is(err, domain.ErrProviderUnavailable) && !errors.Is(err, domain.ErrInvalidRequest) &&
		!errors.Is(err, domain.ErrReauthorizationRequired)
}
