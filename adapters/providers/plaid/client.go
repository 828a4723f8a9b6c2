package plaid

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/dashtam/dashtam/adapters/providers/httpx"
	"github.com/dashtam/dashtam/application/providers"
	"github.com/dashtam/dashtam/domain"
)

// credentials are sent in every request body.
type credentials struct {
	ClientID string `json:"client_id"`
	Secret   string `json:"secret"`
}

type linkUser struct {
	ClientUserID string `json:"client_user_id"`
}

type linkTokenCreateRequest struct {
	credentials
	ClientName   string   `json:"client_name"`
	Language     string   `json:"language"`
	CountryCodes []string `json:"country_codes"`
	User         linkUser `json:"user"`
	Products     []string `json:"products,omitempty"`
	RedirectURI  string   `json:"redirect_uri,omitempty"`
	Webhook      string   `json:"webhook,omitempty"`
	// AccessToken puts Link in update mode, repairing that item; Products
	// are then left out.
	AccessToken string `json:"access_token,omitempty"`
}

type linkTokenCreateResponse struct {
	LinkToken  string `json:"link_token"`
	Expiration string `json:"expiration"`
	RequestID  string `json:"request_id"`
}

type publicTokenExchangeRequest struct {
	credentials
	PublicToken string `json:"public_token"`
}

type publicTokenExchangeResponse struct {
	AccessToken string `json:"access_token"`
	ItemID      string `json:"item_id"`
	RequestID   string `json:"request_id"`
}

type itemRemoveRequest struct {
	credentials
	AccessToken string `json:"access_token"`
}

type itemRemoveResponse struct {
	RequestID string `json:"request_id"`
}

// apiError is Plaid's error body. Its Error text holds only the type, code and
// request id, which are safe to log.
type apiError struct {
	ErrorType      string `json:"error_type"`
	ErrorCode      string `json:"error_code"`
	ErrorMessage   string `json:"error_message"`
	DisplayMessage string `json:"display_message"`
	RequestID      string `json:"request_id"`
	status         int
}

// Error names the Plaid error without its message.
func (e *apiError) Error() string {
	return fmt.Sprintf("plaid %s/%s (HTTP %d, request %s)", e.ErrorType, e.ErrorCode, e.status, e.RequestID)
}

// errorKinds classifies Plaid errors by "error_type/error_code", or by
// error_type alone. Plaid documents that these, not the HTTP status, say what
// happened. Anything not listed (API_ERROR, INSTITUTION_ERROR,
// INVALID_REQUEST, a bad API key) is domain.ErrProviderUnavailable:
// retryable, or our bug to read in the logs. RATE_LIMIT_EXCEEDED and
// PRODUCT_NOT_READY are a *providers.RetryAfterError (Connector.retryLater).
var errorKinds = map[string]error{
	// The item needs the user again: Link in update mode.
	"ITEM_ERROR/ITEM_LOGIN_REQUIRED":     domain.ErrReauthorizationRequired,
	"ITEM_ERROR/ITEM_LOCKED":             domain.ErrReauthorizationRequired,
	"ITEM_ERROR/ITEM_NOT_FOUND":          domain.ErrReauthorizationRequired,
	"ITEM_ERROR/PENDING_EXPIRATION":      domain.ErrReauthorizationRequired,
	"ITEM_ERROR/ACCESS_NOT_GRANTED":      domain.ErrReauthorizationRequired,
	"ITEM_ERROR/USER_PERMISSION_REVOKED": domain.ErrReauthorizationRequired,
	"INVALID_INPUT/INVALID_ACCESS_TOKEN": domain.ErrReauthorizationRequired,
	// The public token from the client is used, expired or not one of ours.
	"INVALID_INPUT/INVALID_PUBLIC_TOKEN": domain.ErrInvalidRequest,
	// Retryable failures on Plaid's or the bank's side.
	"RATE_LIMIT_EXCEEDED": domain.ErrProviderUnavailable,
	"API_ERROR":           domain.ErrProviderUnavailable,
	"INSTITUTION_ERROR":   domain.ErrProviderUnavailable,
}

func (e *apiError) kind() error {
	if k, ok := errorKinds[e.ErrorType+"/"+e.ErrorCode]; ok {
		return k
	}
	if k, ok := errorKinds[e.ErrorType]; ok {
		return k
	}
	return domain.ErrProviderUnavailable
}

// call POSTs in as JSON to path and decodes a successful answer into out. Every
// failure comes back as an *httpx.Error; a Plaid error body is its cause (an
// *apiError). secrets are redacted from Plaid's error_message in the detail.
func (c *Connector) call(ctx context.Context, op, path string, in, out any, secrets ...string) error {
	secrets = append(secrets, c.cfg.Secret)
	payload, err := json.Marshal(in)
	if err != nil {
		return httpx.Fail(domain.ErrProviderUnavailable, op, "encoding request", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.cfg.BaseURL+path, bytes.NewReader(payload))
	if err != nil {
		return httpx.Fail(domain.ErrProviderUnavailable, op, "building request", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		return httpx.ClassifyTransport(op, err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return httpx.ClassifyTransport(op, err)
	}

	// Plaid's error JSON decides, whatever the status.
	apiErr := &apiError{status: resp.StatusCode}
	if json.Unmarshal(body, apiErr) == nil && apiErr.ErrorType != "" {
		detail := fmt.Sprintf("%s/%s (HTTP %d, request %s): %s",
			apiErr.ErrorType, apiErr.ErrorCode, resp.StatusCode, apiErr.RequestID, apiErr.ErrorMessage)
		return httpx.Fail(c.retryLater(apiErr, resp.Header, apiErr.kind()), op, detail, apiErr, secrets...)
	}
	if resp.StatusCode == http.StatusTooManyRequests {
		return httpx.Fail(c.retryLater(apiErr, resp.Header, nil), op, "HTTP 429 without a Plaid error body", nil)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return httpx.Fail(domain.ErrProviderUnavailable, op, fmt.Sprintf("HTTP %d without a Plaid error body", resp.StatusCode), nil)
	}
	if err := json.Unmarshal(body, out); err != nil {
		// The decoder's text may quote the answer, so only the cause keeps it.
		return httpx.Fail(domain.ErrProviderUnavailable, op, "malformed answer", err)
	}
	return nil
}

// How long a job waits when Plaid asks to come back later without saying
// when: its rate limits are per minute, and a product not ready yet is
// usually ready within one.
const (
	rateLimitWait       = time.Minute
	productNotReadyWait = 30 * time.Second
	maxRetryAfter       = time.Hour
)

// retryLater returns a *providers.RetryAfterError for an answer that asks to
// come back later (a 429 or RATE_LIMIT_EXCEEDED, whose Retry-After header is
// honoured when present, or PRODUCT_NOT_READY), else kind.
func (c *Connector) retryLater(e *apiError, header http.Header, kind error) error {
	switch {
	case e.status == http.StatusTooManyRequests || e.ErrorType == "RATE_LIMIT_EXCEEDED":
		return &providers.RetryAfterError{Delay: c.retryAfter(header.Get("Retry-After"), rateLimitWait)}
	case e.ErrorCode == "PRODUCT_NOT_READY":
		return &providers.RetryAfterError{Delay: c.retryAfter(header.Get("Retry-After"), productNotReadyWait)}
	}
	return kind
}

// retryAfter reads a Retry-After value (seconds, or an HTTP date), between a
// second and maxRetryAfter; fallback when there is none or it is unreadable.
func (c *Connector) retryAfter(value string, fallback time.Duration) time.Duration {
	var d time.Duration
	if secs, err := strconv.Atoi(strings.TrimSpace(value)); err == nil {
		d = time.Duration(secs) * time.Second
	} else if at, err := http.ParseTime(value); err == nil {
		d = at.Sub(c.now())
	} else {
		return fallback
	}
	return min(max(d, time.Second), maxRetryAfter)
}
