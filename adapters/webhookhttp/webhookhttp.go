// Package webhookhttp sends the webhooks Dashtam delivers to its clients'
// servers, and decides which servers may receive them (docs/webhooks.md,
// "SSRF"): an https URL in production, and never an address inside our own
// network. The address is checked where it cannot be dodged, when the
// connection is dialed (a net.Dialer Control function sees the IP the name
// resolved to, so a name that resolved to a public address at registration
// and to 127.0.0.1 now is refused), and also at registration, when the
// host is an IP or resolves, so the client hears it at once.
package webhookhttp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"syscall"
	"time"

	webhooksapp "github.com/dashtam/dashtam/application/webhooks"
)

var (
	_ webhooksapp.Sender   = (*Client)(nil)
	_ webhooksapp.URLGuard = (*Client)(nil)
)

// Defaults of Config.
const (
	DefaultTimeout = 10 * time.Second
	// MaxResponseBytes is how much of an answer is read (and discarded).
	MaxResponseBytes = 64 << 10
	userAgent        = "Dashtam-Webhooks/1"
)

// Policy says which URLs may receive webhooks.
type Policy struct {
	// RequireHTTPS refuses http URLs (production).
	RequireHTTPS bool
	// AllowLoopback admits loopback addresses (127.0.0.0/8, ::1), for
	// local development (WEBHOOK_ALLOW_LOOPBACK; refused in production).
	// Every other internal address stays refused.
	AllowLoopback bool
}

// Config configures a Client.
type Config struct {
	Policy Policy
	// Timeout bounds one attempt, from dialing to the end of the answer
	// (DefaultTimeout when 0).
	Timeout time.Duration
	// Resolver resolves hosts at registration (net.DefaultResolver when
	// nil).
	Resolver *net.Resolver
}

// Client sends attempts and checks URLs under one Policy.
type Client struct {
	policy   Policy
	http     *http.Client
	resolver *net.Resolver
}

// New returns a client for cfg.
func New(cfg Config) *Client {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Resolver == nil {
		cfg.Resolver = net.DefaultResolver
	}
	c := &Client{policy: cfg.Policy, resolver: cfg.Resolver}
	dialer := &net.Dialer{Timeout: cfg.Timeout, Control: c.control}
	transport := &http.Transport{
		Proxy:                 nil, // a proxy would be dialed instead of the client's server, dodging the check
		DialContext:           dialer.DialContext,
		TLSHandshakeTimeout:   cfg.Timeout,
		ResponseHeaderTimeout: cfg.Timeout,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   2,
		IdleConnTimeout:       90 * time.Second,
		ForceAttemptHTTP2:     true,
	}
	c.http = &http.Client{
		Transport: transport,
		Timeout:   cfg.Timeout,
		// Redirects are not followed: the 3xx is the answer, and a failure.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return c
}

// errRefused is an address the policy forbids.
var errRefused = errors.New("destination refused")

// control refuses to connect to an address the policy forbids. It runs
// after resolution, on the very address dialed.
func (c *Client) control(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return fmt.Errorf("%w: %q is not an address", errRefused, address)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return fmt.Errorf("%w: %q is not an IP address", errRefused, host)
	}
	return c.checkIP(ip)
}

// checkIP returns why ip may not be reached, or nil.
func (c *Client) checkIP(ip netip.Addr) error {
	if why := internal(ip.Unmap()); why != "" {
		if why == "loopback" && c.policy.AllowLoopback {
			return nil
		}
		return fmt.Errorf("%w: %s is a %s address", errRefused, ip.Unmap(), why)
	}
	return nil
}

// Prefixes that are not the public Internet, beyond what netip classifies.
var internalPrefixes = []struct {
	prefix netip.Prefix
	why    string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "reserved"},
	{netip.MustParsePrefix("100.64.0.0/10"), "shared (carrier-grade NAT)"},
	{netip.MustParsePrefix("192.0.0.0/24"), "reserved"},
	{netip.MustParsePrefix("198.18.0.0/15"), "benchmarking"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved"},
	{netip.MustParsePrefix("64:ff9b::/96"), "NAT64"},
	{netip.MustParsePrefix("64:ff9b:1::/48"), "NAT64"},
	{netip.MustParsePrefix("2002::/16"), "6to4"},
	{netip.MustParsePrefix("100::/64"), "discard"},
}

// metadata are cloud metadata services' addresses.
var metadata = []netip.Addr{netip.MustParseAddr("169.254.169.254"), netip.MustParseAddr("fd00:ec2::254"),
	netip.MustParseAddr("100.100.100.200")}

// internal names the kind of internal address ip is ("" for a public one).
func internal(ip netip.Addr) string {
	switch {
	case !ip.IsValid():
		return "invalid"
	case ip.IsUnspecified():
		return "unspecified"
	case ip.IsLoopback():
		return "loopback"
	}
	for _, m := range metadata {
		if ip == m {
			return "cloud metadata"
		}
	}
	switch {
	case ip.IsPrivate():
		return "private"
	case ip.IsLinkLocalUnicast():
		return "link-local"
	case ip.IsMulticast(), ip.IsLinkLocalMulticast(), ip.IsInterfaceLocalMulticast():
		return "multicast"
	case ip == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return "broadcast"
	}
	for _, p := range internalPrefixes {
		if p.prefix.Contains(ip) {
			return p.why
		}
	}
	return ""
}

// CheckURL says why raw may not receive webhooks: not https in production,
// or a host that is, or resolves to, an address the policy forbids. A host
// that does not resolve now is admitted (it is checked again at every
// delivery).
func (c *Client) CheckURL(ctx context.Context, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Hostname() == "" {
		return errors.New("not an absolute URL")
	}
	if c.policy.RequireHTTPS && u.Scheme != "https" {
		return errors.New("only https URLs are accepted")
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return errors.New("only http(s) URLs are accepted")
	}
	host := u.Hostname()
	if ip, err := netip.ParseAddr(host); err == nil {
		return c.checkIP(ip)
	}
	addrs, err := c.resolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil //nolint:nilerr // not resolvable now: delivery checks it again
	}
	for _, ip := range addrs {
		if err := c.checkIP(ip); err != nil {
			return fmt.Errorf("%s resolves to %s", host, err.Error())
		}
	}
	return nil
}

// Send POSTs r: under the policy (the scheme here, the address when it is
// dialed), within the timeout, following no redirect, reading at most
// MaxResponseBytes of the answer. The error, when there is no answer, says
// why in words fit for the delivery log.
func (c *Client) Send(ctx context.Context, r webhooksapp.Request) (webhooksapp.Response, error) {
	u, err := url.Parse(r.URL)
	if err != nil {
		return webhooksapp.Response{}, errors.New("invalid URL")
	}
	if c.policy.RequireHTTPS && u.Scheme != "https" {
		return webhooksapp.Response{}, fmt.Errorf("%w: only https URLs are accepted", errRefused)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.URL, bytes.NewReader(r.Body))
	if err != nil {
		return webhooksapp.Response{}, errors.New("invalid URL")
	}
	for k, v := range r.Header {
		req.Header.Set(k, v)
	}
	req.Header.Set("User-Agent", userAgent)
	resp, err := c.http.Do(req)
	if err != nil {
		return webhooksapp.Response{}, reason(err)
	}
	defer func() { _ = resp.Body.Close() }()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, MaxResponseBytes))
	return webhooksapp.Response{StatusCode: resp.StatusCode, RetryAfter: retryAfter(resp.Header.Get("Retry-After"), time.Now())}, nil
}

// reason turns a failed request's error into the delivery log's words,
// without the URL (url.Error repeats it).
func reason(err error) error {
	var ne net.Error
	switch {
	case errors.Is(err, errRefused):
		return refusal(err)
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return errors.New("timed out")
	case errors.Is(err, context.Canceled):
		return errors.New("cancelled (the service is stopping)")
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return fmt.Errorf("DNS lookup of %s failed", dnsErr.Name)
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) {
		return fmt.Errorf("connection failed (%s)", opErr.Op)
	}
	return errors.New("request failed")
}

// refusal returns the policy's own error inside err, without the URL and
// dial details around it.
func refusal(err error) error {
	for {
		next := errors.Unwrap(err)
		if next == nil || next == errRefused || !errors.Is(next, errRefused) { //nolint:errorlint // the sentinel itself ends the unwrapping
			return err
		}
		err = next
	}
}

// retryAfter reads a Retry-After header (seconds, or an HTTP date), zero
// when absent or unreadable.
func retryAfter(h string, now time.Time) time.Duration {
	if h == "" {
		return 0
	}
	if s, err := strconv.Atoi(h); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
