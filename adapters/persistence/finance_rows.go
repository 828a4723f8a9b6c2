package persistence

import (
	"database/sql"
	"database/sql/driver"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/domain/calendar"
	"github.com/dashtam/dashtam/domain/finance"
	"github.com/dashtam/dashtam/domain/money"
)

// accountRow mirrors the accounts table of migrations/*/00008.
type accountRow struct {
	ID                   uuid.UUID `gorm:"column:id;primaryKey"`
	ProviderID           uuid.UUID `gorm:"column:provider_id"`
	UserID               uuid.UUID `gorm:"column:user_id"`
	InstitutionAccountID string    `gorm:"column:institution_account_id"`
	Name                 string    `gorm:"column:name"`
	NameKey              string    `gorm:"column:name_key"`
	OfficialName         string    `gorm:"column:official_name"`
	Mask                 string    `gorm:"column:mask"`
	Type                 string    `gorm:"column:type"`
	Subtype              string    `gorm:"column:subtype"`
	Currency             string    `gorm:"column:currency"`
	Status               string    `gorm:"column:status"`
	Version              int64     `gorm:"column:version"`
	CreatedAt            time.Time `gorm:"column:created_at;autoCreateTime:false"`
	UpdatedAt            time.Time `gorm:"column:updated_at;autoCreateTime:false;autoUpdateTime:false"`
}

func (accountRow) TableName() string { return "accounts" }

// searchKey is text lower-cased for the search filters, by Go rather than by
// SQL, whose lower() differs between the dialects.
func searchKey(s string) string { return strings.ToLower(s) }

func accountFromDomain(a *finance.Account, userID uuid.UUID) accountRow {
	return accountRow{
		ID: a.ID(), ProviderID: a.ProviderID(), UserID: userID, InstitutionAccountID: a.InstitutionAccountID(),
		Name: a.Name(), NameKey: searchKey(a.Name()), OfficialName: a.OfficialName(), Mask: a.Mask(),
		Type: a.Type().String(), Subtype: a.Subtype(), Currency: a.Currency().String(), Status: a.Status().String(),
		Version: a.Version(), CreatedAt: dbTime(a.CreatedAt()), UpdatedAt: dbTime(a.UpdatedAt()),
	}
}

func (r accountRow) toDomain() (*finance.Account, error) {
	typ, err := finance.ParseAccountType(r.Type)
	if err != nil {
		return nil, fmt.Errorf("account %s: stored type: %w", r.ID, err)
	}
	status, err := finance.ParseAccountStatus(r.Status)
	if err != nil {
		return nil, fmt.Errorf("account %s: stored status: %w", r.ID, err)
	}
	currency, err := money.ParseCurrency("currency", r.Currency)
	if err != nil {
		return nil, fmt.Errorf("account %s: stored currency: %w", r.ID, err)
	}
	return finance.RehydrateAccount(finance.AccountSnapshot{
		ID: r.ID, ProviderID: r.ProviderID, Status: status, Version: r.Version,
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(),
		Details: finance.AccountDetails{InstitutionAccountID: r.InstitutionAccountID, Name: r.Name,
			OfficialName: r.OfficialName, Mask: r.Mask, Type: typ, Subtype: r.Subtype, Currency: currency},
	}), nil
}

// transactionRow mirrors the transactions table of migrations/*/00008. Money
// is its exact decimal text (NUMERIC on Postgres reads back as that text,
// scale kept); optional values are NULL when unset.
type transactionRow struct {
	ID                       uuid.UUID     `gorm:"column:id;primaryKey"`
	AccountID                uuid.UUID     `gorm:"column:account_id"`
	ProviderID               uuid.UUID     `gorm:"column:provider_id"`
	UserID                   uuid.UUID     `gorm:"column:user_id"`
	InstitutionTransactionID string        `gorm:"column:institution_transaction_id"`
	Status                   string        `gorm:"column:status"`
	Amount                   string        `gorm:"column:amount"`
	AmountKey                string        `gorm:"column:amount_key"`
	Currency                 string        `gorm:"column:currency"`
	Date                     ledgerDate    `gorm:"column:date"`
	AuthorizedDate           ledgerDate    `gorm:"column:authorized_date"`
	PostedDate               ledgerDate    `gorm:"column:posted_date"`
	Description              string        `gorm:"column:description"`
	MerchantName             string        `gorm:"column:merchant_name"`
	DescriptionKey           string        `gorm:"column:description_key"`
	MerchantKey              string        `gorm:"column:merchant_key"`
	CategoryPrimary          string        `gorm:"column:category_primary"`
	CategoryDetailed         string        `gorm:"column:category_detailed"`
	Kind                     string        `gorm:"column:kind"`
	SecurityID               uuid.NullUUID `gorm:"column:security_id"`
	Quantity                 *string       `gorm:"column:quantity"`
	Price                    *string       `gorm:"column:price"`
	Fees                     *string       `gorm:"column:fees"`
	RemovedAt                *time.Time    `gorm:"column:removed_at"`
	Version                  int64         `gorm:"column:version"`
	CreatedAt                time.Time     `gorm:"column:created_at;autoCreateTime:false"`
	UpdatedAt                time.Time     `gorm:"column:updated_at;autoCreateTime:false;autoUpdateTime:false"`
	CreatedPosition          int64         `gorm:"column:created_position"`
	Position                 int64         `gorm:"column:position"`
}

func (transactionRow) TableName() string { return "transactions" }

// transactionFromDomain is t's row for userID's feed, written at position.
// createdPosition is the position of its insert (position itself for a new
// row).
func transactionFromDomain(t *finance.Transaction, userID uuid.UUID, createdPosition, position int64) (transactionRow, error) {
	s := t.Snapshot()
	d := s.Details
	key, err := amountKey(d.Amount.Amount())
	if err != nil {
		return transactionRow{}, fmt.Errorf("transaction %s: %w", s.ID, err)
	}
	inv := d.Investment
	return transactionRow{
		ID: s.ID, AccountID: s.AccountID, ProviderID: s.ProviderID, UserID: userID,
		InstitutionTransactionID: d.InstitutionTransactionID, Status: s.Status.String(),
		Amount: d.Amount.Amount().String(), AmountKey: key, Currency: d.Amount.Currency().String(),
		Date: ledgerDate{d.Date}, AuthorizedDate: ledgerDate{d.AuthorizedDate}, PostedDate: ledgerDate{d.PostedDate},
		Description: d.Description, MerchantName: d.MerchantName,
		DescriptionKey: searchKey(d.Description), MerchantKey: searchKey(d.MerchantName),
		CategoryPrimary: d.Category.Primary, CategoryDetailed: d.Category.Detailed, Kind: d.Kind.String(),
		SecurityID: uuid.NullUUID{UUID: inv.SecurityID, Valid: inv.SecurityID != uuid.Nil},
		Quantity:   optionalDecimal(inv.Quantity, inv.Quantity != money.Decimal{}),
		Price:      optionalDecimal(inv.Price.Amount(), inv.Price.IsSet()),
		Fees:       optionalDecimal(inv.Fees.Amount(), inv.Fees.IsSet()),
		RemovedAt:  optionalTime(s.RemovedAt),
		Version:    s.Version, CreatedAt: dbTime(s.CreatedAt), UpdatedAt: dbTime(s.UpdatedAt),
		CreatedPosition: createdPosition, Position: position,
	}, nil
}

func optionalDecimal(d money.Decimal, set bool) *string {
	if !set {
		return nil
	}
	s := d.String()
	return &s
}

func optionalTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := dbTime(t)
	return &u
}

func (r transactionRow) toDomain() (*finance.Transaction, error) {
	s, err := r.snapshot()
	if err != nil {
		return nil, fmt.Errorf("transaction %s: stored %w", r.ID, err)
	}
	return finance.RehydrateTransaction(s), nil
}

func (r transactionRow) snapshot() (finance.TransactionSnapshot, error) {
	status, err := finance.ParseTransactionStatus(r.Status)
	if err != nil {
		return finance.TransactionSnapshot{}, err
	}
	kind, err := finance.ParseKind(r.Kind)
	if err != nil {
		return finance.TransactionSnapshot{}, err
	}
	amount, err := money.ParseAmount("amount", r.Amount, r.Currency)
	if err != nil {
		return finance.TransactionSnapshot{}, err
	}
	inv, err := r.investment()
	if err != nil {
		return finance.TransactionSnapshot{}, err
	}
	s := finance.TransactionSnapshot{
		ID: r.ID, AccountID: r.AccountID, ProviderID: r.ProviderID, Status: status, Version: r.Version,
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(),
		Details: finance.TransactionDetails{InstitutionTransactionID: r.InstitutionTransactionID, Amount: amount,
			Date: r.Date.Date, AuthorizedDate: r.AuthorizedDate.Date, PostedDate: r.PostedDate.Date,
			Description: r.Description, MerchantName: r.MerchantName,
			Category: finance.Category{Primary: r.CategoryPrimary, Detailed: r.CategoryDetailed},
			Kind:     kind, Investment: inv},
	}
	if r.RemovedAt != nil {
		s.RemovedAt = r.RemovedAt.UTC()
	}
	return s, nil
}

func (r transactionRow) investment() (finance.Investment, error) {
	inv := finance.Investment{SecurityID: r.SecurityID.UUID}
	var err error
	if r.Quantity != nil {
		if inv.Quantity, err = money.ParseQuantity("quantity", *r.Quantity); err != nil {
			return inv, err
		}
	}
	if r.Price != nil {
		if inv.Price, err = money.ParsePrice("price", *r.Price, r.Currency); err != nil {
			return inv, err
		}
	}
	if r.Fees != nil {
		if inv.Fees, err = money.ParseAmount("fees", *r.Fees, r.Currency); err != nil {
			return inv, err
		}
	}
	return inv, nil
}

// ledgerDate is a calendar date column: DATE on Postgres (which pgx reads as
// a time.Time at midnight UTC), YYYY-MM-DD text on SQLite. The zero Date is
// NULL.
type ledgerDate struct{ calendar.Date }

// Value writes the date as YYYY-MM-DD, which both dialects take for a date.
func (d ledgerDate) Value() (driver.Value, error) {
	if d.IsZero() {
		return nil, nil
	}
	return d.String(), nil
}

// pgx is the date as pgx encodes a DATE directly (midnight UTC of the day),
// or nil (NULL) when it is unset.
func (d ledgerDate) pgx() any {
	if d.IsZero() {
		return nil
	}
	return time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, time.UTC)
}

// Scan reads a date back, never through a time zone: a time.Time is taken at
// its own calendar day, which for a DATE is the stored one.
func (d *ledgerDate) Scan(src any) error {
	var s string
	switch v := src.(type) {
	case nil:
		d.Date = calendar.Date{}
		return nil
	case time.Time:
		s = v.Format(time.DateOnly)
	case string:
		s = v
	case []byte:
		s = string(v)
	default:
		return fmt.Errorf("ledger date: cannot scan %T", src)
	}
	date, err := calendar.ParseDate("date", s)
	if err != nil {
		return fmt.Errorf("ledger date %q: %w", s, err)
	}
	d.Date = date
	return nil
}

// transactionColumns is the select list scanTransactions reads: every column
// but the search keys and amount_key, which only filter.
func transactionColumns(db *DB) string {
	return "id, account_id, provider_id, user_id, institution_transaction_id, status, amount, currency, " +
		"date, authorized_date, posted_date, description, merchant_name, category_primary, category_detailed, kind, " +
		"security_id, quantity, price, fees, " + db.timeColumn("removed_at") + ", version, " +
		db.timeColumn("created_at") + ", " + db.timeColumn("updated_at") + ", created_position, position"
}

// scanTransactions reads every row of rows (selected with transactionColumns)
// and closes them. sizeHint (when > 0) is how many rows to expect.
func scanTransactions(rows *sql.Rows, sizeHint int) ([]*finance.Transaction, error) {
	defer func() { _ = rows.Close() }()
	out := make([]*finance.Transaction, 0, max(sizeHint, 0))
	for rows.Next() {
		r, err := scanTransactionRow(rows)
		if err != nil {
			return nil, err
		}
		t, err := r.toDomain()
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// scanTransactionRow reads the current row of rows, selected with
// transactionColumns.
func scanTransactionRow(rows *sql.Rows) (transactionRow, error) {
	var r transactionRow
	var removedAt time.Time
	err := rows.Scan(&r.ID, &r.AccountID, &r.ProviderID, &r.UserID, &r.InstitutionTransactionID, &r.Status,
		&r.Amount, &r.Currency, &r.Date, &r.AuthorizedDate, &r.PostedDate, &r.Description, &r.MerchantName,
		&r.CategoryPrimary, &r.CategoryDetailed, &r.Kind, &r.SecurityID, &r.Quantity, &r.Price, &r.Fees,
		timeScan{&removedAt}, &r.Version, timeScan{&r.CreatedAt}, timeScan{&r.UpdatedAt},
		&r.CreatedPosition, &r.Position)
	r.RemovedAt = optionalTime(removedAt)
	return r, err
}
