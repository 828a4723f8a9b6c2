package email_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"math/big"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/dashtam/dashtam/adapters/email"
	"github.com/dashtam/dashtam/application/identity"
)

const (
	testUser     = "mailer@example.com"
	testPassword = "hunter2-S3cret/pw" // contains "/" to exercise percent-decoding
	testFrom     = "Dashtam <no-reply@dashtam.example>"
	testToken    = "tok_9f8e7d6c5b4a39281706f5e4d3c2b1a0"
)

var testMessage = identity.Message{
	To:      "jürgen@example.com",
	Subject: "Bestätige deine E-Mail-Adresse ✓",
	Text: "Hallo Jürgen,\n\nbitte bestätige deine Adresse: " +
		"https://dashtam.example/verify?token=" + testToken + "\n\nGrüße, 👋 Dashtam\n",
}

// received is one message the test server accepted.
type received struct {
	From     string
	To       []string
	Data     []byte
	AuthUser string
	TLS      bool
}

// backend is an in-memory SMTP backend that records what it receives.
type backend struct {
	user, password string // when user is set, MAIL requires authentication

	authErr error // returned by every authentication attempt when set
	dataErr func(data []byte) error

	mu           sync.Mutex
	msgs         []received
	sessions     int
	authAttempts int
}

func (b *backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	b.mu.Lock()
	b.sessions++
	b.mu.Unlock()
	return &session{b: b, conn: c}, nil
}

func (b *backend) messages() []received {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]received(nil), b.msgs...)
}

func (b *backend) counts() (sessions, authAttempts int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.sessions, b.authAttempts
}

type session struct {
	b    *backend
	conn *smtp.Conn
	user string
	cur  received
}

func (s *session) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, username, password string) error {
		s.b.mu.Lock()
		s.b.authAttempts++
		s.b.mu.Unlock()
		if s.b.authErr != nil {
			return s.b.authErr
		}
		if username != s.b.user || password != s.b.password {
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "bad credentials"}
		}
		s.user = username
		return nil
	}), nil
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if s.b.user != "" && s.user == "" {
		return smtp.ErrAuthRequired
	}
	_, isTLS := s.conn.TLSConnectionState()
	s.cur = received{From: from, AuthUser: s.user, TLS: isTLS}
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.cur.To = append(s.cur.To, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if s.b.dataErr != nil {
		if err := s.b.dataErr(data); err != nil {
			return err
		}
	}
	s.cur.Data = data
	s.b.mu.Lock()
	s.b.msgs = append(s.b.msgs, s.cur)
	s.b.mu.Unlock()
	return nil
}

func (s *session) Reset()        { s.cur = received{} }
func (s *session) Logout() error { return nil }

type serverMode int

const (
	plainServer    serverMode = iota // no TLS at all
	startTLSServer                   // offers STARTTLS
	implicitServer                   // TLS from the first byte
)

// startServer runs an SMTP server for be on ip (port chosen by the kernel) until
// the test ends and returns its port.
func startServer(t *testing.T, be *backend, mode serverMode, ip string, cert tls.Certificate) int {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	srv := smtp.NewServer(be)
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	srv.ReadTimeout = 5 * time.Second
	srv.WriteTimeout = 5 * time.Second
	srv.ErrorLog = log.New(io.Discard, "", 0)
	tlsCfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	switch mode {
	case startTLSServer:
		srv.TLSConfig = tlsCfg
	case implicitServer:
		l = tls.NewListener(l, tlsCfg)
	}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return l.Addr().(*net.TCPAddr).Port
}

// selfSigned returns a certificate for 127.0.0.1 and localhost and a client TLS
// configuration that trusts it.
func selfSigned(t *testing.T) (tls.Certificate, *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "dashtam test SMTP"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf},
		&tls.Config{RootCAs: pool}
}

func smtpURL(scheme, host string, port int, withAuth bool) string {
	u := url.URL{Scheme: scheme, Host: net.JoinHostPort(host, strconv.Itoa(port))}
	if withAuth {
		u.User = url.UserPassword(testUser, testPassword)
	}
	return u.String()
}

func newMailer(t *testing.T, rawURL string, opts ...email.Option) *email.SMTP {
	t.Helper()
	m, err := email.NewSMTP(rawURL, testFrom, opts...)
	if err != nil {
		t.Fatalf("NewSMTP: %v", err)
	}
	return m
}

// assertSafe fails when err is nil or its text contains the password or any part
// of the body that carries the token.
func assertSafe(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		t.Fatal("want an error, got nil")
	}
	text := err.Error()
	t.Logf("error: %s", text)
	for _, secret := range []string{
		testPassword,
		url.QueryEscape(testPassword),
		url.PathEscape(testPassword),
		base64.StdEncoding.EncodeToString([]byte("\x00" + testUser + "\x00" + testPassword)),
		testToken,
		testMessage.Text,
	} {
		if strings.Contains(text, secret) {
			t.Fatalf("error leaks a secret %q: %s", secret, text)
		}
	}
}

// parsed is a received message decoded for comparison.
type parsed struct {
	From, To, Subject, ContentType, MessageID, Body string
}

func parse(t *testing.T, data []byte) parsed {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("read message: %v\n%s", err, data)
	}
	dec := new(mime.WordDecoder)
	header := func(name string) string {
		v, err := dec.DecodeHeader(m.Header.Get(name))
		if err != nil {
			t.Fatalf("decode %s: %v", name, err)
		}
		return v
	}
	body := m.Body
	switch cte := strings.ToLower(m.Header.Get("Content-Transfer-Encoding")); cte {
	case "quoted-printable":
		body = quotedprintable.NewReader(body)
	case "base64":
		body = base64.NewDecoder(base64.StdEncoding, body)
	case "", "7bit", "8bit":
	default:
		t.Fatalf("unexpected Content-Transfer-Encoding %q", cte)
	}
	b, err := io.ReadAll(body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return parsed{
		From:        header("From"),
		To:          header("To"),
		Subject:     header("Subject"),
		ContentType: m.Header.Get("Content-Type"),
		MessageID:   m.Header.Get("Message-Id"),
		Body:        strings.ReplaceAll(string(b), "\r\n", "\n"),
	}
}

// assertDelivered checks that be holds exactly one message equal to testMessage.
func assertDelivered(t *testing.T, be *backend, wantAuthUser string, wantTLS bool) {
	t.Helper()
	msgs := be.messages()
	if len(msgs) != 1 {
		t.Fatalf("server received %d messages, want 1", len(msgs))
	}
	got := msgs[0]
	if got.From != "no-reply@dashtam.example" {
		t.Errorf("MAIL FROM = %q", got.From)
	}
	if len(got.To) != 1 || got.To[0] != testMessage.To {
		t.Errorf("RCPT TO = %q, want [%q]", got.To, testMessage.To)
	}
	if got.AuthUser != wantAuthUser {
		t.Errorf("authenticated user = %q, want %q", got.AuthUser, wantAuthUser)
	}
	if got.TLS != wantTLS {
		t.Errorf("TLS = %v, want %v", got.TLS, wantTLS)
	}
	p := parse(t, got.Data)
	if p.From != testFrom && p.From != `"Dashtam" <no-reply@dashtam.example>` {
		t.Errorf("From header = %q", p.From)
	}
	if !strings.Contains(p.To, testMessage.To) {
		t.Errorf("To header = %q", p.To)
	}
	if p.Subject != testMessage.Subject {
		t.Errorf("Subject = %q, want %q", p.Subject, testMessage.Subject)
	}
	if mt, params, err := mime.ParseMediaType(p.ContentType); err != nil || mt != "text/plain" ||
		!strings.EqualFold(params["charset"], "utf-8") {
		t.Errorf("Content-Type = %q", p.ContentType)
	}
	if !strings.HasSuffix(p.MessageID, "@dashtam.example>") {
		t.Errorf("Message-Id = %q, want one in the sender's domain", p.MessageID)
	}
	if p.Body != testMessage.Text {
		t.Errorf("body = %q, want %q", p.Body, testMessage.Text)
	}
}

func TestSMTPSendPlainWithAuth(t *testing.T) {
	be := &backend{user: testUser, password: testPassword}
	port := startServer(t, be, plainServer, "127.0.0.1", tls.Certificate{})
	m := newMailer(t, smtpURL("smtp", "127.0.0.1", port, true))

	if err := m.Send(context.Background(), testMessage); err != nil {
		t.Fatalf("Send: %v", err)
	}
	assertDelivered(t, be, testUser, false)
}

func TestSMTPSendWithoutAuth(t *testing.T) {
	be := &backend{}
	port := startServer(t, be, plainServer, "127.0.0.1", tls.Certificate{})
	m := newMailer(t, smtpURL("smtp", "127.0.0.1", port, false))

	if err := m.Send(context.Background(), testMessage); err != nil {
		t.Fatalf("Send: %v", err)
	}
	assertDelivered(t, be, "", false)
	if _, attempts := be.counts(); attempts != 0 {
		t.Errorf("auth attempts = %d, want 0", attempts)
	}
}

func TestSMTPSendSTARTTLS(t *testing.T) {
	cert, clientTLS := selfSigned(t)
	be := &backend{user: testUser, password: testPassword}
	port := startServer(t, be, startTLSServer, "127.0.0.1", cert)
	m := newMailer(t, smtpURL("smtp", "127.0.0.1", port, true), email.WithTLSConfig(clientTLS))

	if err := m.Send(context.Background(), testMessage); err != nil {
		t.Fatalf("Send: %v", err)
	}
	assertDelivered(t, be, testUser, true)
}

// Hardening item 18: with TLS required, a server that does not offer
// STARTTLS gets neither the credentials nor the message; one that does gets
// both, encrypted.
func TestSMTPRequireTLSRefusesAServerWithoutSTARTTLS(t *testing.T) {
	be := &backend{user: testUser, password: testPassword}
	port := startServer(t, be, plainServer, "127.0.0.1", tls.Certificate{})
	m := newMailer(t, smtpURL("smtp", "127.0.0.1", port, true), email.WithRequireTLS())
	err := m.Send(context.Background(), testMessage)
	if err == nil {
		t.Fatal("Send to a server without STARTTLS succeeded with TLS required")
	}
	assertSafe(t, err)
	if len(be.messages()) != 0 {
		t.Fatal("message delivered in clear with TLS required")
	}
	if _, attempts := be.counts(); attempts != 0 {
		t.Fatalf("credentials sent in clear with TLS required (%d attempts)", attempts)
	}

	cert, clientTLS := selfSigned(t)
	be = &backend{user: testUser, password: testPassword}
	port = startServer(t, be, startTLSServer, "127.0.0.1", cert)
	m = newMailer(t, smtpURL("smtp", "127.0.0.1", port, true), email.WithRequireTLS(), email.WithTLSConfig(clientTLS))
	if err := m.Send(context.Background(), testMessage); err != nil {
		t.Fatalf("Send over STARTTLS with TLS required: %v", err)
	}
	assertDelivered(t, be, testUser, true)
}

func TestSMTPSendSTARTTLSUntrustedCertificateFails(t *testing.T) {
	cert, _ := selfSigned(t)
	be := &backend{user: testUser, password: testPassword}
	port := startServer(t, be, startTLSServer, "127.0.0.1", cert)
	m := newMailer(t, smtpURL("smtp", "127.0.0.1", port, true))

	err := m.Send(context.Background(), testMessage)
	assertSafe(t, err)
	if len(be.messages()) != 0 {
		t.Fatal("message delivered despite an untrusted certificate")
	}
	if _, attempts := be.counts(); attempts != 0 {
		t.Fatalf("credentials sent despite an untrusted certificate (%d attempts)", attempts)
	}
}

func TestSMTPSendImplicitTLS(t *testing.T) {
	cert, clientTLS := selfSigned(t)
	be := &backend{user: testUser, password: testPassword}
	port := startServer(t, be, implicitServer, "127.0.0.1", cert)
	m := newMailer(t, smtpURL("smtps", "127.0.0.1", port, true), email.WithTLSConfig(clientTLS))

	if err := m.Send(context.Background(), testMessage); err != nil {
		t.Fatalf("Send: %v", err)
	}
	assertDelivered(t, be, testUser, true)
}

func TestSMTPSendImplicitTLSUntrustedCertificateFails(t *testing.T) {
	cert, _ := selfSigned(t)
	be := &backend{user: testUser, password: testPassword}
	port := startServer(t, be, implicitServer, "127.0.0.1", cert)
	m := newMailer(t, smtpURL("smtps", "127.0.0.1", port, true))

	assertSafe(t, m.Send(context.Background(), testMessage))
	if len(be.messages()) != 0 {
		t.Fatal("message delivered despite an untrusted certificate")
	}
}

// A server that is not on a loopback name and offers no TLS must not receive
// the password. 127.0.0.2 is loopback on Linux, but go-mail, like net/smtp, only
// treats "localhost", "127.0.0.1" and "::1" as local.
func TestSMTPSendRefusesCleartextCredentialsToRemoteHost(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skipf("127.0.0.2 is not available here: %v", err)
	}
	_ = l.Close()

	be := &backend{user: testUser, password: testPassword}
	port := startServer(t, be, plainServer, "127.0.0.2", tls.Certificate{})
	m := newMailer(t, smtpURL("smtp", "127.0.0.2", port, true))

	err = m.Send(context.Background(), testMessage)
	assertSafe(t, err)
	if _, attempts := be.counts(); attempts != 0 {
		t.Fatalf("credentials sent in clear text (%d attempts)", attempts)
	}
	if len(be.messages()) != 0 {
		t.Fatal("message delivered")
	}
}

func TestSMTPSendWrongPassword(t *testing.T) {
	be := &backend{user: testUser, password: "another password"}
	port := startServer(t, be, plainServer, "127.0.0.1", tls.Certificate{})
	m := newMailer(t, smtpURL("smtp", "127.0.0.1", port, true))

	err := m.Send(context.Background(), testMessage)
	assertSafe(t, err)
	if !strings.Contains(err.Error(), "535") {
		t.Errorf("error should keep the server's reply code: %v", err)
	}
}

// A server that quotes the password or the body back must not leak them
// through the error.
func TestSMTPSendRedactsSecretsEchoedByServer(t *testing.T) {
	t.Run("password", func(t *testing.T) {
		be := &backend{user: testUser, password: testPassword, authErr: &smtp.SMTPError{
			Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "bad password " + testPassword,
		}}
		port := startServer(t, be, plainServer, "127.0.0.1", tls.Certificate{})
		m := newMailer(t, smtpURL("smtp", "127.0.0.1", port, true))
		err := m.Send(context.Background(), testMessage)
		assertSafe(t, err)
		if !strings.Contains(err.Error(), "[REDACTED]") {
			t.Errorf("want the echoed password replaced: %v", err)
		}
	})
	t.Run("body", func(t *testing.T) {
		be := &backend{dataErr: func([]byte) error {
			return &smtp.SMTPError{
				Code: 554, EnhancedCode: smtp.EnhancedCode{5, 7, 1},
				Message: "spam detected near https://dashtam.example/verify?token=" + testToken,
			}
		}}
		port := startServer(t, be, plainServer, "127.0.0.1", tls.Certificate{})
		m := newMailer(t, smtpURL("smtp", "127.0.0.1", port, false))
		err := m.Send(context.Background(), testMessage)
		assertSafe(t, err)
		if !strings.Contains(err.Error(), "554") {
			t.Errorf("error should keep the server's reply code: %v", err)
		}
	})
}

func TestSMTPSendServerDown(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()

	for _, scheme := range []string{"smtp", "smtps"} {
		m := newMailer(t, smtpURL(scheme, "127.0.0.1", port, true))
		err := m.Send(context.Background(), testMessage)
		assertSafe(t, err)
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s: a refused connection is not a context error: %v", scheme, err)
		}
	}
}

func TestSMTPSendContextAlreadyCancelled(t *testing.T) {
	be := &backend{}
	port := startServer(t, be, plainServer, "127.0.0.1", tls.Certificate{})
	m := newMailer(t, smtpURL("smtp", "127.0.0.1", port, true))

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := m.Send(ctx, testMessage)
	assertSafe(t, err)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("want context.Canceled, got %v", err)
	}
	time.Sleep(50 * time.Millisecond)
	if sessions, _ := be.counts(); sessions != 0 {
		t.Fatalf("server saw %d sessions, want none", sessions)
	}
}

// stalledServer accepts connections and never answers, like a server that hangs
// before its greeting. It returns its port.
func stalledServer(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
	)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = l.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return l.Addr().(*net.TCPAddr).Port
}

// Cancelling the context aborts a session that is waiting on the server, long
// before the (default, 10s) timeout.
func TestSMTPSendContextCancelledMidSession(t *testing.T) {
	port := stalledServer(t)
	m := newMailer(t, smtpURL("smtp", "127.0.0.1", port, true))

	t.Run("cancel", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(100*time.Millisecond, cancel)
		start := time.Now()
		err := m.Send(ctx, testMessage)
		if elapsed := time.Since(start); elapsed > 3*time.Second {
			t.Fatalf("Send returned after %v, want soon after cancellation", elapsed)
		}
		assertSafe(t, err)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("want context.Canceled, got %v", err)
		}
	})
	t.Run("deadline", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		err := m.Send(ctx, testMessage)
		if elapsed := time.Since(start); elapsed > 3*time.Second {
			t.Fatalf("Send returned after %v, want soon after the deadline", elapsed)
		}
		assertSafe(t, err)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("want context.DeadlineExceeded, got %v", err)
		}
	})
}

func TestSMTPSendTimeout(t *testing.T) {
	port := stalledServer(t)
	m := newMailer(t, smtpURL("smtp", "127.0.0.1", port, true), email.WithTimeout(200*time.Millisecond))

	start := time.Now()
	err := m.Send(context.Background(), testMessage)
	if elapsed := time.Since(start); elapsed > 3*time.Second {
		t.Fatalf("Send returned after %v, want about 200ms", elapsed)
	}
	assertSafe(t, err)
}

func TestSMTPSendConcurrent(t *testing.T) {
	be := &backend{user: testUser, password: testPassword}
	port := startServer(t, be, plainServer, "127.0.0.1", tls.Certificate{})
	m := newMailer(t, smtpURL("smtp", "127.0.0.1", port, true))

	const n = 8
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			msg := testMessage
			msg.Subject = fmt.Sprintf("message %d", i)
			errs <- m.Send(context.Background(), msg)
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("Send: %v", err)
		}
	}
	if got := len(be.messages()); got != n {
		t.Fatalf("server received %d messages, want %d", got, n)
	}
}

func TestSMTPSendRejectsBadHeaders(t *testing.T) {
	be := &backend{}
	port := startServer(t, be, plainServer, "127.0.0.1", tls.Certificate{})
	m := newMailer(t, smtpURL("smtp", "127.0.0.1", port, false))

	for _, msg := range []identity.Message{
		{To: "victim@example.com\r\nBcc: other@example.com", Subject: "hi", Text: "body"},
		{To: "victim@example.com", Subject: "hi\r\nBcc: other@example.com", Text: "body"},
		{To: "not an address", Subject: "hi", Text: "body"},
		{To: "", Subject: "hi", Text: "body"},
	} {
		if err := m.Send(context.Background(), msg); err == nil {
			t.Errorf("Send(%q, %q) = nil, want an error", msg.To, msg.Subject)
		}
	}
	if len(be.messages()) != 0 {
		t.Fatal("a message was delivered")
	}
}

func TestNewSMTPDefaults(t *testing.T) {
	for _, tc := range []struct{ url, want string }{
		{"smtp://mail.example.com", "smtp://mail.example.com:587"},
		{"smtps://mail.example.com", "smtps://mail.example.com:465"},
		{"SMTP://mail.example.com:2525/", "smtp://mail.example.com:2525"},
		{"smtp://user@mail.example.com", "smtp://user@mail.example.com:587"},
		{"smtp://[::1]:25", "smtp://[::1]:25"},
	} {
		m, err := email.NewSMTP(tc.url, testFrom)
		if err != nil {
			t.Errorf("NewSMTP(%q): %v", tc.url, err)
			continue
		}
		if got := m.String(); !strings.Contains(got, "("+tc.want+",") {
			t.Errorf("NewSMTP(%q) = %s, want %s", tc.url, got, tc.want)
		}
	}
}

func TestNewSMTPInvalid(t *testing.T) {
	const pw = "Sup3rSecretPw"
	for _, tc := range []struct{ name, url, from string }{
		{"empty", "", testFrom},
		{"bad scheme", "http://user:" + pw + "@mail.example.com", testFrom},
		{"no scheme", "user:" + pw + "@mail.example.com", testFrom},
		{"missing host", "smtp://user:" + pw + "@", testFrom},
		{"missing host with port", "smtp://user:" + pw + "@:587", testFrom},
		{"opaque", "smtp:user:" + pw + "@mail.example.com", testFrom},
		{"port zero", "smtp://user:" + pw + "@mail.example.com:0", testFrom},
		{"port too big", "smtp://user:" + pw + "@mail.example.com:70000", testFrom},
		{"port not a number", "smtp://user:" + pw + "@mail.example.com:abc", testFrom},
		{"bad escape in password", "smtp://user:" + pw + "%zz@mail.example.com", testFrom},
		{"space in URL", "smtp://user:" + pw + "@mail example.com", testFrom},
		{"path", "smtp://user:" + pw + "@mail.example.com/inbox", testFrom},
		{"query", "smtp://user:" + pw + "@mail.example.com?tls=off", testFrom},
		{"fragment", "smtp://user:" + pw + "@mail.example.com#x", testFrom},
		{"password without user", "smtp://:" + pw + "@mail.example.com", testFrom},
		{"bad from", "smtp://user:" + pw + "@mail.example.com", "not an address"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := email.NewSMTP(tc.url, tc.from)
			if err == nil {
				t.Fatalf("NewSMTP = %v, want an error", m)
			}
			if strings.Contains(err.Error(), pw[:6]) {
				t.Fatalf("error echoes the password: %v", err)
			}
		})
	}

	if _, err := email.NewSMTP("smtp://mail.example.com", testFrom, email.WithTimeout(0)); err == nil {
		t.Error("zero timeout accepted")
	}
}

func TestSMTPStringHidesPassword(t *testing.T) {
	m := newMailer(t, smtpURL("smtps", "mail.example.com", 465, true))
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("mailer", "mailer", m)
	for _, s := range []string{
		m.String(), fmt.Sprint(m), fmt.Sprintf("%v", m), fmt.Sprintf("%+v", m), fmt.Sprintf("%#v", m), logged.String(),
	} {
		if strings.Contains(s, testPassword) || strings.Contains(s, url.PathEscape(testPassword)) {
			t.Fatalf("password printed: %s", s)
		}
		if !strings.Contains(s, "mail.example.com:465") {
			t.Errorf("want the host in %q", s)
		}
	}
}
