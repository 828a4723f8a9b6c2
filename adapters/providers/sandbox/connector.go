package sandbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/dashtam/dashtam/adapters/providers/oauth2x"
	"github.com/dashtam/dashtam/application/providers"
)

// Connector implements providers.Connector for the sandbox institution. It is
// the shared OAuth 2.0 redirect connector (oauth2x) with the sandbox's
// endpoints: the authorization URL is public (PublicBaseURL + Prefix +
// "/authorize"), while token calls are served in-process by the connector's own
// Institution, with no network round trip to ourselves. It is safe for
// concurrent use.
type Connector struct {
	flow        *oauth2x.Connector
	institution *Institution
}

var _ providers.Connector = (*Connector)(nil)

// New validates cfg and returns a sandbox connector together with its
// Institution (see Connector.Institution).
func New(cfg Config) (*Connector, error) {
	return newConnector(cfg, nil)
}

// newConnector builds the connector; wrap, when not nil, wraps the handler the
// in-process transport serves (tests use it to inject failures).
func newConnector(cfg Config, wrap func(http.Handler) http.Handler) (*Connector, error) {
	s, err := cfg.settings()
	if err != nil {
		return nil, err
	}
	inst := newInstitution(s)
	var served http.Handler = inst
	if wrap != nil {
		served = wrap(served)
	}
	flow, err := oauth2x.New(oauth2x.Config{
		Type: providers.ProviderType{
			Key:  "sandbox",
			Name: "Dashtam Sandbox",
			Flow: providers.FlowRedirect,
			Capabilities: []string{
				providers.CapabilityAccounts, providers.CapabilityHoldings, providers.CapabilityTransactions,
			},
			CanRefresh: true,
		},
		ClientID:         ClientID,
		ClientSecret:     s.clientSecret,
		AuthURL:          s.authURL,
		TokenURL:         s.tokenURL,
		RedirectURL:      s.RedirectURL,
		RefreshLifetime:  s.RefreshTTL,
		Timeout:          s.Timeout,
		MaxResponseBytes: s.MaxResponseBytes,
		Now:              s.Now,
		HTTPClient:       &http.Client{Transport: handlerTransport{handler: served}},
	})
	if err != nil {
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	return &Connector{flow: flow, institution: inst}, nil
}

// Institution returns the handler that serves this connector's token calls.
// Mount this one (rather than a second NewInstitution) under Config.Prefix, so
// the process keeps a single record of redeemed codes.
func (c *Connector) Institution() *Institution { return c.institution }

// Type describes the sandbox for the catalog: key "sandbox", redirect flow,
// refreshable.
func (c *Connector) Type() providers.ProviderType { return c.flow.Type() }

// Begin returns the public authorization URL carrying req.State.
func (c *Connector) Begin(ctx context.Context, req providers.BeginRequest) (providers.BeginResult, error) {
	return c.flow.Begin(ctx, req)
}

// Complete exchanges a sandbox code (it ends in '@', like Schwab's) for tokens.
func (c *Connector) Complete(ctx context.Context, code string) (providers.Tokens, error) {
	return c.flow.Complete(ctx, code)
}

// Refresh trades the refresh token for new tokens until RefreshTTL after
// consent, then returns domain.ErrReauthorizationRequired.
func (c *Connector) Refresh(ctx context.Context, current providers.Tokens) (providers.Tokens, error) {
	return c.flow.Refresh(ctx, current)
}

// Revoke returns nil: the sandbox keeps no grants to end.
func (c *Connector) Revoke(ctx context.Context, current providers.Tokens) error {
	return c.flow.Revoke(ctx, current)
}

// handlerTransport is an http.RoundTripper that serves requests with an
// in-process handler. It honours the request's context, so the client's
// timeout applies exactly as it would over the network.
type handlerTransport struct {
	handler http.Handler
}

// RoundTrip serves req with the handler and returns its recorded answer, or
// the context's error when the request is cancelled first.
func (t handlerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	in := req.Clone(ctx)
	in.RequestURI = req.URL.RequestURI()
	in.RemoteAddr = "in-process"
	if in.Body == nil {
		in.Body = http.NoBody
	}
	rec := &recorder{header: make(http.Header)}
	done := make(chan struct{})
	var panicked any
	go func() {
		defer close(done)
		// Like http.Server, a panicking handler fails its request, not the
		// process.
		defer func() { panicked = recover() }()
		t.handler.ServeHTTP(rec, in)
	}()
	select {
	case <-done:
		if panicked != nil {
			return nil, errors.New("sandbox institution handler panicked")
		}
		return rec.response(req), nil
	case <-ctx.Done():
		// The handler sees the same context and is expected to stop; its
		// recorder is abandoned.
		return nil, ctx.Err()
	}
}

// recorder is a minimal in-memory http.ResponseWriter.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
}

func (r *recorder) Write(p []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	return r.body.Write(p)
}

func (r *recorder) response(req *http.Request) *http.Response {
	r.WriteHeader(http.StatusOK)
	return &http.Response{
		Status:        fmt.Sprintf("%d %s", r.status, http.StatusText(r.status)),
		StatusCode:    r.status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        r.header,
		Body:          io.NopCloser(bytes.NewReader(r.body.Bytes())),
		ContentLength: int64(r.body.Len()),
		Request:       req,
	}
}
