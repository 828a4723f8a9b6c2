package email_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"testing"

	"github.com/dashtam/dashtam/adapters/email"
	"github.com/dashtam/dashtam/application/identity"
)

func TestLogSend(t *testing.T) {
	var buf bytes.Buffer
	m := email.NewLog(slog.New(slog.NewJSONHandler(&buf, nil)))

	msg := identity.Message{
		To:      "ada@example.com",
		Subject: "Verify your email",
		Text:    "Open https://dashtam.example/verify?token=abc123 to verify.\n",
	}
	if err := m.Send(context.Background(), msg); err != nil {
		t.Fatalf("Send: %v", err)
	}

	lines := bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n"))
	if len(lines) != 1 {
		t.Fatalf("want one log line, got %d:\n%s", len(lines), buf.String())
	}
	var rec map[string]any
	if err := json.Unmarshal(lines[0], &rec); err != nil {
		t.Fatalf("log line is not JSON: %v\n%s", err, lines[0])
	}
	for key, want := range map[string]string{
		"level":   "INFO",
		"msg":     "email (development: not sent)",
		"to":      msg.To,
		"subject": msg.Subject,
		"body":    msg.Text,
	} {
		if got, _ := rec[key].(string); got != want {
			t.Errorf("%s = %q, want %q", key, got, want)
		}
	}
}

func TestLogSendCancelled(t *testing.T) {
	var buf bytes.Buffer
	m := email.NewLog(slog.New(slog.NewJSONHandler(&buf, nil)))

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := m.Send(ctx, identity.Message{To: "ada@example.com", Subject: "s", Text: "t"})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("want context.Canceled, got %v", err)
	}
	if buf.Len() != 0 {
		t.Fatalf("logged despite cancellation: %s", buf.String())
	}
}

func TestNewLogNilLoggerUsesDefault(t *testing.T) {
	var buf bytes.Buffer
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewJSONHandler(&buf, nil)))
	t.Cleanup(func() { slog.SetDefault(prev) })

	if err := email.NewLog(nil).Send(context.Background(), identity.Message{To: "a@example.com"}); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if !bytes.Contains(buf.Bytes(), []byte(`"to":"a@example.com"`)) {
		t.Fatalf("default logger not used: %q", buf.String())
	}
}
