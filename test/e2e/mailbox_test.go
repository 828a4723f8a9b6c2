package e2e

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"log"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// mailbox is an in-process SMTP server (plain text, no TLS) on a loopback port
// that keeps every message it accepts. It accepts any AUTH PLAIN credentials and
// also mail without authentication.
type mailbox struct {
	// Addr is the server's host:port.
	Addr string

	mu   sync.Mutex
	msgs []mailMessage
	// gate, when set, makes every MAIL command wait until it is closed; entered
	// gets a value each time one starts waiting.
	gate    chan struct{}
	entered chan struct{}
}

// mailMessage is one message the mailbox accepted.
type mailMessage struct {
	From     string   // MAIL FROM
	To       []string // RCPT TO
	AuthUser string   // the AUTH PLAIN user, "" without authentication
	Data     []byte   // the message as received (headers and body)
}

// startMailbox runs a mailbox until the test ends.
func startMailbox(t testing.TB) *mailbox {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("SMTP listen: %v", err)
	}
	mb := &mailbox{Addr: ln.Addr().String()}
	srv := smtp.NewServer(mb)
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true // loopback only; the mailer allows it too
	srv.ReadTimeout = 30 * time.Second
	srv.WriteTimeout = 30 * time.Second
	srv.ErrorLog = log.New(io.Discard, "", 0)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		mb.release()
		_ = srv.Close()
	})
	return mb
}

// URL returns an smtp:// URL for the mailbox, with credentials when user is set.
func (mb *mailbox) URL(user, password string) string {
	u := url.URL{Scheme: "smtp", Host: mb.Addr}
	if user != "" {
		u.User = url.UserPassword(user, password)
	}
	return u.String()
}

// hold makes every following MAIL command wait until release is called and
// returns a channel that receives each time one starts waiting. It is how a test
// keeps a request that sends mail in flight for as long as it needs.
func (mb *mailbox) hold() <-chan struct{} {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	mb.gate = make(chan struct{})
	mb.entered = make(chan struct{}, 16)
	return mb.entered
}

// release lets every held and later MAIL command through.
func (mb *mailbox) release() {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	if mb.gate != nil {
		close(mb.gate)
		mb.gate = nil
	}
}

// messages returns a copy of what the mailbox has accepted so far.
func (mb *mailbox) messages() []mailMessage {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	return append([]mailMessage(nil), mb.msgs...)
}

// waitForMessage polls until a message to the address to has arrived and returns
// the first one, failing the test after logTimeout.
func (mb *mailbox) waitForMessage(t testing.TB, to string) mailMessage {
	t.Helper()
	deadline := time.Now().Add(logTimeout)
	for {
		for _, m := range mb.messages() {
			for _, rcpt := range m.To {
				if strings.EqualFold(rcpt, to) {
					return m
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no email to %s arrived within %v (received %d others)", to, logTimeout, len(mb.messages()))
		}
		time.Sleep(pollInterval)
	}
}

// NewSession implements smtp.Backend.
func (mb *mailbox) NewSession(*smtp.Conn) (smtp.Session, error) {
	return &mailSession{mb: mb}, nil
}

// mailSession is one SMTP connection to the mailbox.
type mailSession struct {
	mb   *mailbox
	user string
	cur  mailMessage
}

var _ smtp.AuthSession = (*mailSession)(nil)

func (s *mailSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *mailSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, username, _ string) error {
		s.user = username
		return nil
	}), nil
}

func (s *mailSession) Mail(from string, _ *smtp.MailOptions) error {
	s.mb.mu.Lock()
	gate, entered := s.mb.gate, s.mb.entered
	s.mb.mu.Unlock()
	if gate != nil {
		select {
		case entered <- struct{}{}:
		default: // nobody is counting that many
		}
		select {
		case <-gate:
		case <-time.After(time.Minute):
			return errors.New("held for too long")
		}
	}
	s.cur = mailMessage{From: from, AuthUser: s.user}
	return nil
}

func (s *mailSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.cur.To = append(s.cur.To, to)
	return nil
}

func (s *mailSession) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.cur.Data = data
	s.mb.mu.Lock()
	s.mb.msgs = append(s.mb.msgs, s.cur)
	s.mb.mu.Unlock()
	return nil
}

func (s *mailSession) Reset()        { s.cur = mailMessage{} }
func (s *mailSession) Logout() error { return nil }

// parsedMail is a received message with its headers decoded and its body undone
// from its transfer encoding.
type parsedMail struct {
	From, To, Subject string
	Body              string
}

// parse decodes m, failing the test when it is not a plain-text message.
func (m mailMessage) parse(t testing.TB) parsedMail {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
	if err != nil {
		t.Fatalf("read email: %v\n%s", err, m.Data)
	}
	dec := new(mime.WordDecoder)
	header := func(name string) string {
		v, err := dec.DecodeHeader(msg.Header.Get(name))
		if err != nil {
			t.Fatalf("decode %s header: %v", name, err)
		}
		return v
	}
	if mt, _, err := mime.ParseMediaType(msg.Header.Get("Content-Type")); err != nil || mt != "text/plain" {
		t.Fatalf("Content-Type = %q, want text/plain", msg.Header.Get("Content-Type"))
	}
	body := msg.Body
	switch cte := strings.ToLower(msg.Header.Get("Content-Transfer-Encoding")); cte {
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
		t.Fatalf("read email body: %v", err)
	}
	return parsedMail{
		From:    header("From"),
		To:      header("To"),
		Subject: header("Subject"),
		Body:    strings.ReplaceAll(string(b), "\r\n", "\n"),
	}
}
