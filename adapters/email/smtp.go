// Package email holds the adapters for the identity.Mailer port: SMTP, which
// delivers mail through an SMTP server, and Log, which only writes each message
// to the log for local development.
package email

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/mail"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	gomail "github.com/wneessen/go-mail"
	gosmtp "github.com/wneessen/go-mail/smtp"

	"github.com/dashtam/dashtam/application/identity"
)

// Default ports and timeout used when the SMTP URL or the options leave them out.
const (
	// DefaultSubmissionPort is the port for smtp:// URLs without a port (message
	// submission, STARTTLS when offered).
	DefaultSubmissionPort = 587
	// DefaultImplicitTLSPort is the port for smtps:// URLs without a port
	// (submission over implicit TLS).
	DefaultImplicitTLSPort = 465
	// DefaultTimeout bounds connecting and each read or write on the connection
	// unless WithTimeout says otherwise.
	DefaultTimeout = 10 * time.Second
)

// urlShape is what every URL validation error tells the operator to use. The
// errors never quote the URL itself, since it may carry a password.
const urlShape = "want smtp://[user[:password]@]host[:port] or smtps://[user[:password]@]host[:port]"

var _ identity.Mailer = (*SMTP)(nil)

// SMTP is an identity.Mailer that delivers plain-text UTF-8 mail through an SMTP
// server with github.com/wneessen/go-mail. Each Send opens its own connection, so
// one SMTP value is safe for concurrent use.
//
// An smtp:// server is asked to STARTTLS when it offers to (opportunistic TLS),
// and the session stays unencrypted when it does not. If the server offers
// STARTTLS but its certificate does not verify, Send fails rather than falling
// back to plain text. An smtps:// server is spoken to over TLS from the first
// byte.
//
// With a user in the URL, Send authenticates with PLAIN or else LOGIN, and with
// the strongest mechanism the server offers when it offers neither. PLAIN and
// LOGIN are only used over TLS or with a loopback server ("localhost",
// "127.0.0.1" or "::1"): on an unencrypted session with any other host Send fails
// before the password is sent.
//
// Errors returned by NewSMTP and Send never contain the password, and errors
// returned by Send never contain the message body, which carries one-time tokens.
type SMTP struct {
	implicitTLS bool
	host        string
	port        int
	username    string
	password    string
	from        string
	fromDomain  string
	tlsConfig   *tls.Config
	requireTLS  bool
	timeout     time.Duration
}

// Option configures an SMTP mailer built by NewSMTP.
type Option func(*options)

type options struct {
	tlsConfig  *tls.Config
	requireTLS bool
	timeout    time.Duration
}

// WithRequireTLS makes an smtp:// mailer insist on STARTTLS: a server that
// does not offer it gets nothing, neither credentials nor the message (which
// carries one-time tokens). smtps:// is encrypted from the first byte anyway.
// Production turns it on (SMTP_REQUIRE_TLS).
func WithRequireTLS() Option {
	return func(o *options) { o.requireTLS = true }
}

// WithTLSConfig sets the TLS configuration for STARTTLS and implicit TLS, for
// instance to trust a private CA or a self-signed certificate in tests. The
// configuration is cloned; when its ServerName is empty the URL's host is used,
// and when its MinVersion is zero TLS 1.2 is required.
func WithTLSConfig(cfg *tls.Config) Option {
	return func(o *options) { o.tlsConfig = cfg }
}

// WithTimeout sets the time allowed for connecting and for each read or write on
// the connection. It must be positive; the default is DefaultTimeout.
func WithTimeout(d time.Duration) Option {
	return func(o *options) { o.timeout = d }
}

// NewSMTP returns an SMTP mailer for rawURL that sends mail from the address
// from (for example "Dashtam <no-reply@example.com>").
//
// rawURL is smtp://[user[:password]@]host[:port] (STARTTLS when offered, port
// 587 by default) or smtps://[user[:password]@]host[:port] (implicit TLS, port
// 465 by default). Reserved characters in the user or password must be
// percent-encoded. Without a user the mailer does not authenticate. The URL is
// validated here, and no connection is made until Send.
func NewSMTP(rawURL, from string, opts ...Option) (*SMTP, error) {
	o := options{timeout: DefaultTimeout}
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	if o.timeout <= 0 {
		return nil, errors.New("email: SMTP timeout must be positive")
	}

	s := &SMTP{timeout: o.timeout, requireTLS: o.requireTLS}
	if err := s.parseURL(rawURL); err != nil {
		return nil, err
	}

	addr, err := mail.ParseAddress(from)
	if err != nil {
		return nil, fmt.Errorf("email: invalid from address %q: %w", from, err)
	}
	s.from = from
	s.fromDomain = addr.Address[strings.LastIndexByte(addr.Address, '@')+1:]

	var cfg *tls.Config
	if o.tlsConfig != nil {
		cfg = o.tlsConfig.Clone()
	} else {
		cfg = &tls.Config{}
	}
	if cfg.ServerName == "" {
		cfg.ServerName = s.host
	}
	if cfg.MinVersion == 0 {
		cfg.MinVersion = tls.VersionTLS12
	}
	s.tlsConfig = cfg
	return s, nil
}

// parseURL fills in the connection fields from rawURL. Its errors never quote
// rawURL or the parser's message, either of which can contain the password.
func (s *SMTP) parseURL(rawURL string) error {
	u, err := url.Parse(strings.TrimSpace(rawURL))
	if err != nil {
		return fmt.Errorf("email: invalid SMTP URL: %s", urlShape)
	}
	switch u.Scheme {
	case "smtp":
		s.port = DefaultSubmissionPort
	case "smtps":
		s.implicitTLS = true
		s.port = DefaultImplicitTLSPort
	default:
		return fmt.Errorf("email: invalid SMTP URL: the scheme must be smtp or smtps; %s", urlShape)
	}
	if u.Opaque != "" || u.Hostname() == "" {
		return fmt.Errorf("email: invalid SMTP URL: missing host; %s", urlShape)
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return fmt.Errorf("email: invalid SMTP URL: unexpected path, query or fragment; %s", urlShape)
	}
	s.host = u.Hostname()
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("email: invalid SMTP URL: the port must be between 1 and 65535; %s", urlShape)
		}
		s.port = n
	}
	if u.User != nil {
		s.username = u.User.Username()
		s.password, _ = u.User.Password()
		if s.username == "" && s.password != "" {
			return fmt.Errorf("email: invalid SMTP URL: a password needs a user; %s", urlShape)
		}
	}
	return nil
}

// Send delivers msg as a plain-text UTF-8 email from the configured sender to
// msg.To. It returns once the server has accepted the message for delivery.
// Cancelling ctx aborts the SMTP session at once and Send returns an error that
// wraps ctx.Err().
func (s *SMTP) Send(ctx context.Context, msg identity.Message) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("email: send aborted: %w", err)
	}
	if strings.ContainsAny(msg.To, "\r\n") || strings.ContainsAny(msg.Subject, "\r\n") {
		return errors.New("email: recipient and subject must not contain line breaks")
	}
	if _, err := mail.ParseAddress(msg.To); err != nil {
		return fmt.Errorf("email: invalid recipient address %q: %w", msg.To, err)
	}

	m := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	m.SetCharset(gomail.CharsetUTF8)
	if err := m.From(s.from); err != nil {
		return fmt.Errorf("email: invalid from address %q: %w", s.from, err)
	}
	if err := m.To(msg.To); err != nil {
		return fmt.Errorf("email: invalid recipient address %q: %w", msg.To, err)
	}
	m.Subject(msg.Subject)
	m.SetDate()
	m.SetMessageIDWithValue(s.messageID())
	m.SetBodyString(gomail.TypeTextPlain, msg.Text)

	guard := &connGuard{}
	stop := context.AfterFunc(ctx, guard.abort)
	defer func() {
		stop()
		guard.close()
	}()

	client, err := gomail.NewClient(s.host, s.clientOptions(guard)...)
	if err != nil {
		return s.sendError(ctx, err, msg)
	}
	conn, err := client.DialToSMTPClientWithContext(ctx)
	if err != nil {
		return s.sendError(ctx, err, msg)
	}
	if err := client.SendWithSMTPClient(conn, m); err != nil {
		return s.sendError(ctx, err, msg)
	}
	// The server has accepted the message; a failed QUIT does not undo that.
	_ = client.CloseWithSMTPClient(conn)
	return nil
}

// clientOptions configures a go-mail client for one Send. The dialer is ours so
// that cancelling ctx can close the connection, which go-mail alone only watches
// while dialing, and so that IPv6 hosts are joined correctly.
func (s *SMTP) clientOptions(guard *connGuard) []gomail.Option {
	addr := net.JoinHostPort(s.host, strconv.Itoa(s.port))
	dial := func(ctx context.Context, network, _ string) (net.Conn, error) {
		netDialer := &net.Dialer{}
		var (
			conn net.Conn
			err  error
		)
		if s.implicitTLS {
			// The dialer returns the *tls.Conn itself, which is how go-mail's SMTP
			// client knows the session is encrypted.
			conn, err = (&tls.Dialer{NetDialer: netDialer, Config: s.tlsConfig}).DialContext(ctx, network, addr)
		} else {
			conn, err = netDialer.DialContext(ctx, network, addr)
		}
		if err != nil {
			return nil, err
		}
		if !guard.set(conn) {
			_ = conn.Close()
			return nil, context.Canceled
		}
		return conn, nil
	}

	opts := []gomail.Option{
		gomail.WithTimeout(s.timeout),
		gomail.WithTLSConfig(s.tlsConfig),
		gomail.WithDialContextFunc(dial),
	}
	if s.implicitTLS {
		opts = append(opts, gomail.WithSSL())
	} else if s.requireTLS {
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	} else {
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSOpportunistic))
	}
	// WithSSL sets its own port, so the port comes last.
	opts = append(opts, gomail.WithPort(s.port))
	if s.username != "" {
		// PLAIN and LOGIN refuse to send credentials over an unencrypted session
		// unless the server is on loopback. Without either, go-mail picks the
		// strongest mechanism the server offers.
		opts = append(opts,
			gomail.WithUsername(s.username),
			gomail.WithPassword(s.password),
			gomail.WithOpportunisticSMTPAuth(gomail.SMTPAuthPlain, gomail.SMTPAuthLogin),
		)
	}
	return opts
}

// messageID returns a random Message-ID in the sender's domain, so the local
// host name does not leak into outgoing mail.
func (s *SMTP) messageID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:]) + "@" + s.fromDomain
}

// sendError turns a failure from go-mail into an error that is safe to log. It
// wraps ctx.Err() when ctx has ended; otherwise it carries only the text of err
// with the password and the body removed, never err itself (go-mail's SendError
// holds the whole message).
func (s *SMTP) sendError(ctx context.Context, err error, msg identity.Message) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("email: send aborted: %w", ctxErr)
	}
	text := s.redact(err.Error(), msg.Text)
	if errors.Is(err, gosmtp.ErrUnencrypted) {
		text += " (credentials are only sent over TLS: use smtps:// or a server that offers STARTTLS)"
	}
	return errors.New("email: send failed: " + text)
}

// redact removes the password (also as sent by AUTH PLAIN and LOGIN) and the body
// from text. Every long word of the body is removed too, so a server that quotes
// one line of the body back cannot leak a token through the error.
func (s *SMTP) redact(text, body string) string {
	var secrets []string
	if s.password != "" {
		secrets = append(secrets,
			s.password,
			base64.StdEncoding.EncodeToString([]byte(s.password)),
			base64.StdEncoding.EncodeToString([]byte("\x00"+s.username+"\x00"+s.password)),
		)
	}
	if strings.TrimSpace(body) != "" {
		secrets = append(secrets, body, strings.TrimSpace(body))
		for _, line := range strings.Split(body, "\n") {
			if line = strings.TrimSpace(line); line != "" {
				secrets = append(secrets, line)
			}
		}
		for _, word := range strings.Fields(body) {
			if len(word) >= 8 {
				secrets = append(secrets, word)
			}
		}
	}
	// Longest first, so a secret is not left half-replaced by a shorter one.
	slices.SortFunc(secrets, func(a, b string) int { return len(b) - len(a) })
	for _, secret := range secrets {
		text = strings.ReplaceAll(text, secret, "[REDACTED]")
	}
	return text
}

// String describes the mailer with the password masked.
func (s *SMTP) String() string {
	scheme := "smtp"
	if s.implicitTLS {
		scheme = "smtps"
	}
	u := url.URL{Scheme: scheme, Host: net.JoinHostPort(s.host, strconv.Itoa(s.port))}
	if s.username != "" {
		if s.password != "" {
			u.User = url.UserPassword(s.username, "xxxxx")
		} else {
			u.User = url.User(s.username)
		}
	}
	return fmt.Sprintf("email.SMTP(%s, from %s)", u.String(), s.from)
}

// GoString is String, so that %#v cannot print the password either.
func (s *SMTP) GoString() string { return s.String() }

// LogValue is String, so that logging the mailer with slog cannot print the
// password either.
func (s *SMTP) LogValue() slog.Value { return slog.StringValue(s.String()) }

// connGuard holds the connection of one Send so that a cancelled context can
// close it, and so that Send can close it however go-mail left it.
type connGuard struct {
	mu      sync.Mutex
	conn    net.Conn
	aborted bool
}

// set records conn. It reports false when the context has already ended, in
// which case the caller must close conn itself.
func (g *connGuard) set(conn net.Conn) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.aborted {
		return false
	}
	g.conn = conn
	return true
}

// abort closes the connection, unblocking any read or write in progress, and
// makes later calls to set fail.
func (g *connGuard) abort() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.aborted = true
	if g.conn != nil {
		_ = g.conn.Close()
	}
}

// close closes the connection if there is one; closing twice is harmless.
func (g *connGuard) close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.conn != nil {
		_ = g.conn.Close()
	}
}
