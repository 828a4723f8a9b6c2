package persistence

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/application/exports"
	"github.com/dashtam/dashtam/domain"
)

var _ exports.Source = (*ExportSource)(nil)

// ExportSource reads what a user's export holds (exports.Source), each
// section by hand-written SQL in keyset pages. Every section names its
// columns: the allow-list of what may leave the service. No token, hash,
// encrypted credential, signing secret, institution id or lease is among
// them (docs/exports.md); the tests search a document for the stored ones.
type ExportSource struct{ db *DB }

// NewExportSource returns the source reading db.
func NewExportSource(db *DB) *ExportSource { return &ExportSource{db: db} }

// colKind is how a column is read and written.
type colKind int

const (
	colText    colKind = iota // text; NULL is null
	colUUID                   // a uuid, as text
	colTime                   // an instant, RFC 3339 UTC
	colInt                    // an integer
	colBool                   // a boolean (0/1 on SQLite)
	colDecimal                // an exact number, as a string
	colDate                   // a calendar day, YYYY-MM-DD
	colJSON                   // a stored JSON document, as it is
)

// exportCol is one field of a section: its name in the document, the SQL
// expression that reads it, and its kind.
type exportCol struct {
	name string
	expr string
	kind colKind
}

// exportSection is how one section is read: its fields, the FROM and WHERE
// (the WHERE's ? are all the user's id), and the keyset: key columns
// (expressions) and the indexes of the fields that hold their values.
type exportSection struct {
	cols  []exportCol
	from  string
	where string
	keys  []string
	keyAt []int
}

// exportProfile is the user's own record.
var exportProfile = exportSection{
	cols: []exportCol{
		{"id", "id", colUUID}, {"email", "email", colText}, {"name", "name", colText}, {"role", "role", colText},
		{"status", "status", colText}, {"email_verified_at", "email_verified_at", colTime},
		{"created_at", "created_at", colTime}, {"updated_at", "updated_at", colTime},
	},
	from: "users", where: "id = ?",
}

var exportSections = map[exports.Section]exportSection{
	exports.Sessions: {
		cols: []exportCol{
			{"id", "id", colUUID}, {"created_at", "created_at", colTime}, {"last_used_at", "last_used_at", colTime},
			{"expires_at", "expires_at", colTime}, {"revoked_at", "revoked_at", colTime},
			{"revoke_reason", "revoke_reason", colText}, {"ip_address", "ip_address", colText}, {"user_agent", "user_agent", colText},
		},
		from: "sessions", where: "user_id = ?", keys: []string{"id"}, keyAt: []int{0},
	},
	exports.Providers: {
		cols: []exportCol{
			{"id", "p.id", colUUID}, {"provider_key", "p.provider_key", colText}, {"alias", "p.alias", colText},
			{"connection_status", "p.connection_status", colText}, {"created_at", "p.created_at", colTime},
			{"updated_at", "p.updated_at", colTime}, {"authorization_status", "a.status", colText},
			{"authorization_scopes", "a.scopes", colText}, {"authorized_at", "a.authorized_at", colTime},
			{"refreshed_at", "a.refreshed_at", colTime}, {"access_expires_at", "a.token_expires_at", colTime},
			{"refresh_expires_at", "a.refresh_expires_at", colTime},
		},
		from:  "providers p LEFT JOIN authorizations a ON a.provider_id = p.id",
		where: "p.user_id = ?", keys: []string{"p.id"}, keyAt: []int{0},
	},
	exports.Accounts: {
		cols: []exportCol{
			{"id", "id", colUUID}, {"provider_id", "provider_id", colUUID}, {"name", "name", colText},
			{"official_name", "official_name", colText}, {"mask", "mask", colText}, {"type", "type", colText},
			{"subtype", "subtype", colText}, {"currency", "currency", colText}, {"status", "status", colText},
			{"created_at", "created_at", colTime}, {"updated_at", "updated_at", colTime},
		},
		from: "accounts", where: "user_id = ?", keys: []string{"id"}, keyAt: []int{0},
	},
	exports.Balances: {
		cols: []exportCol{
			{"account_id", "b.account_id", colUUID}, {"as_of", "b.as_of", colTime}, {"current", "b.current", colDecimal},
			{"available", "b.available", colDecimal}, {"credit_limit", "b.credit_limit", colDecimal},
			{"currency", "b.currency", colText},
		},
		from: "balances b JOIN accounts a ON a.id = b.account_id", where: "a.user_id = ?",
		keys: []string{"b.account_id", "b.as_of"}, keyAt: []int{0, 1},
	},
	exports.Securities: {
		cols: []exportCol{
			{"id", "s.id", colUUID}, {"provider_id", "s.provider_id", colUUID}, {"symbol", "s.symbol", colText},
			{"name", "s.name", colText}, {"type", "s.type", colText}, {"isin", "s.isin", colText},
			{"cusip", "s.cusip", colText}, {"currency", "s.currency", colText},
			{"cash_equivalent", "s.cash_equivalent", colBool}, {"created_at", "s.created_at", colTime},
			{"updated_at", "s.updated_at", colTime},
		},
		from: "securities s JOIN providers p ON p.id = s.provider_id", where: "p.user_id = ?",
		keys: []string{"s.id"}, keyAt: []int{0},
	},
	exports.Holdings: {
		cols: []exportCol{
			{"id", "h.id", colUUID}, {"account_id", "h.account_id", colUUID}, {"security_id", "h.security_id", colUUID},
			{"quantity", "h.quantity", colDecimal}, {"price", "h.price", colDecimal}, {"price_as_of", "h.price_as_of", colDate},
			{"market_value", "h.market_value", colDecimal}, {"cost_basis", "h.cost_basis", colDecimal},
			{"currency", "h.currency", colText}, {"as_of", "h.as_of", colTime},
			{"created_at", "h.created_at", colTime}, {"updated_at", "h.updated_at", colTime},
		},
		from: "holdings h JOIN accounts a ON a.id = h.account_id", where: "a.user_id = ?",
		keys: []string{"h.id"}, keyAt: []int{0},
	},
	exports.Transactions: {
		cols: []exportCol{
			{"id", "id", colUUID}, {"account_id", "account_id", colUUID}, {"provider_id", "provider_id", colUUID},
			{"state", "CASE WHEN removed_at IS NULL THEN 'live' ELSE 'removed' END", colText},
			{"status", "status", colText}, {"amount", "amount", colDecimal}, {"currency", "currency", colText},
			{"date", "date", colDate}, {"authorized_date", "authorized_date", colDate}, {"posted_date", "posted_date", colDate},
			{"description", "description", colText}, {"merchant_name", "merchant_name", colText},
			{"category_primary", "category_primary", colText}, {"category_detailed", "category_detailed", colText},
			{"kind", "kind", colText}, {"security_id", "security_id", colUUID}, {"quantity", "quantity", colDecimal},
			{"price", "price", colDecimal}, {"fees", "fees", colDecimal}, {"removed_at", "removed_at", colTime},
			{"created_at", "created_at", colTime}, {"updated_at", "updated_at", colTime},
			{"feed_position", "position", colInt},
		},
		// The changes feed's order (transactions_user_id_position_key):
		// every transaction once, tombstones too.
		from: "transactions", where: "user_id = ?", keys: []string{"position"}, keyAt: []int{22},
	},
	exports.Syncs: {
		cols: []exportCol{
			{"id", "id", colUUID}, {"provider_id", "provider_id", colUUID}, {"trigger", "trigger", colText},
			{"status", "status", colText}, {"accounts_total", "accounts_total", colInt}, {"accounts_done", "accounts_done", colInt},
			{"accounts_added", "accounts_added", colInt}, {"accounts_updated", "accounts_updated", colInt},
			{"accounts_closed", "accounts_closed", colInt}, {"transactions_added", "transactions_added", colInt},
			{"transactions_modified", "transactions_modified", colInt}, {"transactions_removed", "transactions_removed", colInt},
			{"holdings_added", "holdings_added", colInt}, {"holdings_updated", "holdings_updated", colInt},
			{"holdings_removed", "holdings_removed", colInt}, {"errors", "errors", colJSON},
			{"created_at", "created_at", colTime}, {"started_at", "started_at", colTime}, {"finished_at", "finished_at", colTime},
		},
		from: "syncs", where: "user_id = ?", keys: []string{"id"}, keyAt: []int{0},
	},
	exports.WebhookEndpoints: {
		cols: []exportCol{
			{"id", "id", colUUID}, {"url", "url", colText}, {"event_types", "event_types", colText},
			{"description", "description", colText}, {"enabled", "enabled", colBool},
			{"disabled_reason", "disabled_reason", colText}, {"created_at", "created_at", colTime},
			{"updated_at", "updated_at", colTime},
		},
		from: "webhook_endpoints", where: "user_id = ?", keys: []string{"id"}, keyAt: []int{0},
	},
	exports.Events: {
		cols: []exportCol{
			{"id", "id", colInt}, {"type", "type", colText}, {"occurred_at", "occurred_at", colTime},
			{"data", "data", colJSON},
		},
		from: "events", where: "user_id = ?", keys: []string{"id"}, keyAt: []int{0},
	},
	exports.AuditEvents: {
		cols: []exportCol{
			{"id", "id", colUUID}, {"occurred_at", "occurred_at", colTime}, {"actor_id", "actor_id", colUUID},
			{"subject_type", "subject_type", colText}, {"subject_id", "subject_id", colText},
			{"action", "action", colText}, {"outcome", "outcome", colText}, {"reason", "reason", colText},
			{"request_id", "request_id", colText}, {"client_ip", "client_ip", colText}, {"user_agent", "user_agent", colText},
		},
		// What the user made or what is about them (GET /users/me/audit-events).
		from: "audit_events", where: "(actor_id = ? OR (subject_type = 'user' AND subject_id = ?))",
		keys: []string{"id"}, keyAt: []int{0},
	},
}

// Profile returns the user's own record.
func (s *ExportSource) Profile(ctx context.Context, userID uuid.UUID) (exports.Record, error) {
	recs, _, err := s.read(ctx, exportProfile, userID, nil, 1)
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		return nil, fmt.Errorf("user %s: %w", userID, domain.ErrNotFound)
	}
	return recs[0], nil
}

// ReadSection returns one keyset page of the user's section.
func (s *ExportSource) ReadSection(ctx context.Context, userID uuid.UUID, section exports.Section, after exports.Cursor,
	limit int,
) ([]exports.Record, exports.Cursor, error) {
	spec, ok := exportSections[section]
	if !ok {
		return nil, nil, fmt.Errorf("%w: %q", errUnknownSection, section)
	}
	return s.read(ctx, spec, userID, after, limit)
}

func (s *ExportSource) read(ctx context.Context, spec exportSection, userID uuid.UUID, after exports.Cursor, limit int,
) ([]exports.Record, exports.Cursor, error) {
	st := s.db.newStatement()
	st.add("SELECT ")
	for i, c := range spec.cols {
		if i > 0 {
			st.add(", ")
		}
		st.add(s.selectExpr(c))
	}
	st.add(" FROM " + spec.from + " WHERE " + spec.where)
	for range strings.Count(spec.where, "?") {
		st.args = append(st.args, userID)
	}
	if len(after) > 0 {
		if len(after) != len(spec.keys) {
			return nil, nil, fmt.Errorf("export cursor of %d values for %d keys", len(after), len(spec.keys))
		}
		st.add(" AND (" + strings.Join(spec.keys, ", ") + ") > (" + strings.TrimSuffix(strings.Repeat("?, ", len(after)), ", ") + ")")
		st.args = append(st.args, after...)
	}
	if len(spec.keys) > 0 {
		st.add(" ORDER BY " + strings.Join(spec.keys, ", "))
	}
	st.add(" LIMIT ")
	st.number(limit)
	rows, err := s.db.query(ctx, st)
	if err != nil {
		return nil, nil, dbError("read export section", err)
	}
	defer func() { _ = rows.Close() }()
	var out []exports.Record
	dest := make([]any, len(spec.cols))
	for rows.Next() {
		vals := make([]exportValue, len(spec.cols))
		for i, c := range spec.cols {
			vals[i].kind = c.kind
			dest[i] = vals[i].scanner()
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, nil, dbError("read export section", err)
		}
		rec := make(exports.Record, len(spec.cols))
		for i, c := range spec.cols {
			rec[i] = exports.Field{Name: c.name, Value: vals[i].value()}
		}
		out = append(out, rec)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, dbError("read export section", err)
	}
	var next exports.Cursor
	if n := len(out); n > 0 && len(spec.keyAt) > 0 {
		last := out[n-1]
		next = make(exports.Cursor, len(spec.keyAt))
		for i, at := range spec.keyAt {
			next[i] = s.keyArg(last[at].Value)
		}
	}
	return out, next, nil
}

// selectExpr is how the select list reads c: times as timeScan wants them,
// numbers, days and ids as their exact text.
func (s *ExportSource) selectExpr(c exportCol) string {
	switch c.kind {
	case colTime:
		return s.db.timeColumn(c.expr)
	case colDecimal, colDate, colUUID, colJSON:
		return "CAST(" + c.expr + " AS TEXT)"
	default:
		return c.expr
	}
}

// keyArg turns a key field's value back into the argument the keyset
// compares with: a time as the stores write it.
func (s *ExportSource) keyArg(v any) any {
	if t, ok := v.(time.Time); ok {
		return dbTime(t)
	}
	return v
}

// exportValue is one scanned column.
type exportValue struct {
	kind colKind
	str  sql.NullString
	num  sql.NullInt64
	b    sql.NullBool
	t    time.Time
}

func (v *exportValue) scanner() any {
	switch v.kind {
	case colTime:
		return timeScan{t: &v.t}
	case colInt:
		return &v.num
	case colBool:
		return &v.b
	default:
		return &v.str
	}
}

func (v *exportValue) value() any {
	switch v.kind {
	case colTime:
		if v.t.IsZero() {
			return nil
		}
		return v.t
	case colInt:
		if !v.num.Valid {
			return nil
		}
		return v.num.Int64
	case colBool:
		if !v.b.Valid {
			return nil
		}
		return v.b.Bool
	}
	if !v.str.Valid {
		return nil
	}
	switch v.kind {
	case colDecimal:
		return exports.Decimal(v.str.String)
	case colJSON:
		return json.RawMessage(v.str.String)
	case colDate:
		if len(v.str.String) > 10 { // a driver's midnight timestamp
			return v.str.String[:10]
		}
	}
	return v.str.String
}
