package persistence

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	financeapp "github.com/dashtam/dashtam/application/finance"
	"github.com/dashtam/dashtam/domain/event"
	"github.com/dashtam/dashtam/domain/finance"
	"github.com/dashtam/dashtam/domain/money"
)

// balanceRow mirrors the balances table of migrations/*/00008. Amounts are
// exact decimal text; the unset ones are NULL.
type balanceRow struct {
	AccountID   uuid.UUID `gorm:"column:account_id;primaryKey"`
	AsOf        time.Time `gorm:"column:as_of;primaryKey"`
	Current     string    `gorm:"column:current"`
	Available   *string   `gorm:"column:available"`
	CreditLimit *string   `gorm:"column:credit_limit"`
	Currency    string    `gorm:"column:currency"`
}

func (balanceRow) TableName() string { return "balances" }

func balanceFromDomain(b finance.Balance) balanceRow {
	return balanceRow{AccountID: b.AccountID(), AsOf: dbTime(b.AsOf()), Current: b.Current().Amount().String(),
		Available:   optionalDecimal(b.Available().Amount(), b.Available().IsSet()),
		CreditLimit: optionalDecimal(b.Limit().Amount(), b.Limit().IsSet()),
		Currency:    b.Currency().String()}
}

func (r balanceRow) toDomain() (finance.Balance, error) {
	s := finance.BalanceSnapshot{AccountID: r.AccountID, AsOf: r.AsOf.UTC()}
	var err error
	if s.Current, err = money.ParseAmount("current", r.Current, r.Currency); err != nil {
		return finance.Balance{}, fmt.Errorf("balance of account %s: stored %w", r.AccountID, err)
	}
	for _, opt := range []struct {
		text *string
		into *money.Money
	}{{r.Available, &s.Available}, {r.CreditLimit, &s.Limit}} {
		if opt.text == nil {
			continue
		}
		if *opt.into, err = money.ParseAmount("balance", *opt.text, r.Currency); err != nil {
			return finance.Balance{}, fmt.Errorf("balance of account %s: stored %w", r.AccountID, err)
		}
	}
	return finance.RehydrateBalance(s), nil
}

// UpdateBalance locks the account's row, loads its newest balance, calls fn
// and appends what fn returns, in one transaction. An unknown account is
// domain.ErrNotFound.
func (s *FinanceStore) UpdateBalance(ctx context.Context, accountID uuid.UUID,
	fn func(last *finance.Balance) (*finance.Balance, error),
) (bool, error) {
	var written bool
	err := s.db.inTx(ctx, "update balance of account "+accountID.String(), func(tx *gorm.DB) error {
		var account accountRow
		if err := s.db.lockRow(tx, &account, "id = ?", accountID); err != nil {
			return err
		}
		last, err := newestBalance(tx, accountID)
		if err != nil {
			return err
		}
		next, err := fn(last)
		if err := fromCaller(err); err != nil || next == nil {
			return err
		}
		if next.AccountID() != accountID || last != nil && !dbTime(next.AsOf()).After(last.AsOf()) {
			return fromCaller(financeapp.ErrStaleBalance)
		}
		row := balanceFromDomain(*next)
		written = true
		if err := tx.Create(&row).Error; err != nil {
			return err
		}
		if e, changed := finance.BalanceChanged(last, *next, tx.NowFunc()); changed {
			return writeEvents(tx, account.UserID, []event.Event{e})
		}
		return nil
	})
	return written && err == nil, err
}

// newestBalance returns the account's newest balance, or nil.
func newestBalance(tx *gorm.DB, accountID uuid.UUID) (*finance.Balance, error) {
	var row balanceRow
	err := tx.Where("account_id = ?", accountID).Order("as_of DESC").Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	b, err := row.toDomain()
	return &b, err
}

// Balances returns one page of q.AccountID's balance history, newest first,
// served by the primary key scanned backwards.
func (s *FinanceStore) Balances(ctx context.Context, q financeapp.BalanceQuery) ([]finance.Balance, error) {
	stmt := s.db.Gorm.WithContext(ctx).Where("account_id = ?", q.AccountID)
	// Bounds rounded so that, for times stored to the microsecond, each
	// comparison holds exactly when it holds for the bound as given.
	for _, bound := range []struct {
		cond    string
		at      time.Time
		rounded func(time.Time) time.Time
	}{{"as_of >= ?", q.From, ceilMicrosecond}, {"as_of <= ?", q.To, dbTime}, {"as_of < ?", q.Before, ceilMicrosecond}} {
		if !bound.at.IsZero() {
			stmt = stmt.Where(bound.cond, bound.rounded(bound.at))
		}
	}
	var rows []balanceRow
	if err := stmt.Order("as_of DESC").Limit(q.Limit).Find(&rows).Error; err != nil {
		return nil, dbError("list balances", err)
	}
	out := make([]finance.Balance, 0, len(rows))
	for _, r := range rows {
		b, err := r.toDomain()
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

// CurrentBalances returns the newest balance of each of accountIDs that has
// one: one query, each account's newest found through the primary key.
func (s *FinanceStore) CurrentBalances(ctx context.Context, accountIDs []uuid.UUID) (map[uuid.UUID]finance.Balance, error) {
	out := make(map[uuid.UUID]finance.Balance, len(accountIDs))
	if len(accountIDs) == 0 {
		return out, nil
	}
	var rows []balanceRow
	err := s.db.Gorm.WithContext(ctx).
		Where("account_id IN ? AND as_of = (SELECT MAX(newest.as_of) FROM balances newest WHERE newest.account_id = balances.account_id)", accountIDs).
		Find(&rows).Error
	if err != nil {
		return nil, dbError("current balances", err)
	}
	for _, r := range rows {
		b, err := r.toDomain()
		if err != nil {
			return nil, err
		}
		out[r.AccountID] = b
	}
	return out, nil
}
