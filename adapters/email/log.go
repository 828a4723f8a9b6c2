package email

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/dashtam/dashtam/application/identity"
)

var _ identity.Mailer = (*Log)(nil)

// Log is an identity.Mailer for development that sends nothing: it writes every
// message, body included, to the log at INFO level. That is how a developer
// without a mail server reads verification and password-reset links.
//
// The body carries one-time tokens, so Log must never run in production, where
// logs are kept and shipped elsewhere. Bootstrap only wires it outside
// production; production uses SMTP.
type Log struct {
	logger *slog.Logger
}

// NewLog returns a Log mailer that writes to logger, or to slog.Default() when
// logger is nil.
func NewLog(logger *slog.Logger) *Log {
	if logger == nil {
		logger = slog.Default()
	}
	return &Log{logger: logger}
}

// Send logs one INFO line, "email (development: not sent)", with the attributes
// to, subject and body. It returns an error wrapping ctx.Err() without logging
// when ctx has already ended.
func (l *Log) Send(ctx context.Context, msg identity.Message) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("email: send aborted: %w", err)
	}
	l.logger.LogAttrs(ctx, slog.LevelInfo, "email (development: not sent)",
		slog.String("to", msg.To),
		slog.String("subject", msg.Subject),
		slog.String("body", msg.Text),
	)
	return nil
}
