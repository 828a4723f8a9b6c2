package persistence

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	financeapp "github.com/dashtam/dashtam/application/finance"
	"github.com/dashtam/dashtam/domain/finance"
	"github.com/dashtam/dashtam/domain/money"
)

// holdingKeyTaken is what two holdings of one security in one account run
// into: an UpdateHoldings closure that answered a security twice.
var holdingKeyTaken = uniqueKey{
	index:   "holdings_account_id_security_id_key",
	columns: "holdings.account_id, holdings.security_id",
	err:     finance.ErrDuplicateHolding,
}

// securityRow mirrors the securities table of migrations/*/00009.
type securityRow struct {
	ID                    uuid.UUID `gorm:"column:id;primaryKey"`
	ProviderID            uuid.UUID `gorm:"column:provider_id"`
	KeyScheme             string    `gorm:"column:key_scheme"`
	KeyValue              string    `gorm:"column:key_value"`
	InstitutionSecurityID string    `gorm:"column:institution_security_id"`
	ISIN                  string    `gorm:"column:isin"`
	CUSIP                 string    `gorm:"column:cusip"`
	Symbol                string    `gorm:"column:symbol"`
	Name                  string    `gorm:"column:name"`
	Type                  string    `gorm:"column:type"`
	Currency              string    `gorm:"column:currency"`
	CashEquivalent        bool      `gorm:"column:cash_equivalent"`
	CreatedAt             time.Time `gorm:"column:created_at;autoCreateTime:false"`
	UpdatedAt             time.Time `gorm:"column:updated_at;autoCreateTime:false;autoUpdateTime:false"`
}

func (securityRow) TableName() string { return "securities" }

func securityFromDomain(s *finance.Security) securityRow {
	snap := s.Snapshot()
	d, key := snap.Details, s.Key()
	return securityRow{ID: snap.ID, ProviderID: snap.ProviderID, KeyScheme: key.Scheme, KeyValue: key.Value,
		InstitutionSecurityID: d.InstitutionSecurityID, ISIN: d.ISIN, CUSIP: d.CUSIP, Symbol: d.Symbol, Name: d.Name,
		Type: d.Type.String(), Currency: d.Currency.String(), CashEquivalent: d.CashEquivalent,
		CreatedAt: dbTime(snap.CreatedAt), UpdatedAt: dbTime(snap.UpdatedAt)}
}

func (r securityRow) toDomain() (*finance.Security, error) {
	typ, err := finance.ParseSecurityType(r.Type)
	if err != nil {
		return nil, fmt.Errorf("security %s: stored type: %w", r.ID, err)
	}
	currency, err := money.ParseCurrency("currency", r.Currency)
	if err != nil {
		return nil, fmt.Errorf("security %s: stored currency: %w", r.ID, err)
	}
	return finance.RehydrateSecurity(finance.SecuritySnapshot{ID: r.ID, ProviderID: r.ProviderID,
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(),
		Details: finance.SecurityDetails{InstitutionSecurityID: r.InstitutionSecurityID, ISIN: r.ISIN, CUSIP: r.CUSIP,
			Symbol: r.Symbol, Name: r.Name, Type: typ, Currency: currency, CashEquivalent: r.CashEquivalent}}), nil
}

// holdingRow mirrors the holdings table of migrations/*/00009. Money is its
// exact decimal text, as for transactions; the unset values are NULL.
type holdingRow struct {
	ID          uuid.UUID  `gorm:"column:id;primaryKey"`
	AccountID   uuid.UUID  `gorm:"column:account_id"`
	SecurityID  uuid.UUID  `gorm:"column:security_id"`
	Quantity    string     `gorm:"column:quantity"`
	Price       *string    `gorm:"column:price"`
	PriceAsOf   ledgerDate `gorm:"column:price_as_of"`
	MarketValue string     `gorm:"column:market_value"`
	CostBasis   *string    `gorm:"column:cost_basis"`
	Currency    string     `gorm:"column:currency"`
	AsOf        time.Time  `gorm:"column:as_of"`
	CreatedAt   time.Time  `gorm:"column:created_at;autoCreateTime:false"`
	UpdatedAt   time.Time  `gorm:"column:updated_at;autoCreateTime:false;autoUpdateTime:false"`
}

func (holdingRow) TableName() string { return "holdings" }

func holdingFromDomain(h *finance.Holding) holdingRow {
	s := h.Snapshot()
	d := s.Details
	return holdingRow{ID: s.ID, AccountID: s.AccountID, SecurityID: d.SecurityID, Quantity: d.Quantity.String(),
		Price: optionalDecimal(d.Price.Amount(), d.Price.IsSet()), PriceAsOf: ledgerDate{d.PriceAsOf},
		MarketValue: d.MarketValue.Amount().String(), CostBasis: optionalDecimal(d.CostBasis.Amount(), d.CostBasis.IsSet()),
		Currency: d.MarketValue.Currency().String(), AsOf: dbTime(d.AsOf),
		CreatedAt: dbTime(s.CreatedAt), UpdatedAt: dbTime(s.UpdatedAt)}
}

func (r holdingRow) toDomain() (*finance.Holding, error) {
	d := finance.HoldingDetails{SecurityID: r.SecurityID, PriceAsOf: r.PriceAsOf.Date, AsOf: r.AsOf.UTC()}
	var err error
	if d.Quantity, err = money.ParseQuantity("quantity", r.Quantity); err != nil {
		return nil, fmt.Errorf("holding %s: stored %w", r.ID, err)
	}
	if d.MarketValue, err = money.ParseAmount("market_value", r.MarketValue, r.Currency); err != nil {
		return nil, fmt.Errorf("holding %s: stored %w", r.ID, err)
	}
	if r.Price != nil {
		if d.Price, err = money.ParsePrice("price", *r.Price, r.Currency); err != nil {
			return nil, fmt.Errorf("holding %s: stored %w", r.ID, err)
		}
	}
	if r.CostBasis != nil {
		if d.CostBasis, err = money.ParseAmount("cost_basis", *r.CostBasis, r.Currency); err != nil {
			return nil, fmt.Errorf("holding %s: stored %w", r.ID, err)
		}
	}
	return finance.RehydrateHolding(finance.HoldingSnapshot{ID: r.ID, AccountID: r.AccountID, Details: d,
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC()}), nil
}

// SaveSecurities locks the provider's row, which serializes the writers of
// its securities, loads the ones with the given keys, and inserts the
// securities it does not have and updates those whose details changed, in one
// transaction; it returns every given security's id by key. The port gives
// no time, so a security's created and updated times are the database
// clock's (GORM's NowFunc: UTC, to the microsecond). Details that do not
// validate are a *domain.ValidationError and store nothing. An unknown
// provider is domain.ErrNotFound.
func (s *FinanceStore) SaveSecurities(ctx context.Context, providerID uuid.UUID, securities []finance.SecurityDetails,
) (map[finance.SecurityKey]uuid.UUID, error) {
	ids := make(map[finance.SecurityKey]uuid.UUID, len(securities))
	err := s.db.inTx(ctx, "save securities of provider "+providerID.String(), func(tx *gorm.DB) error {
		if _, err := lockProvider(s.db, tx, providerID); err != nil {
			return err
		}
		stored, err := loadSecurities(tx, providerID, securities)
		if err != nil {
			return err
		}
		now := s.db.Gorm.NowFunc()
		for _, d := range securities {
			sec, err := upsertSecurity(tx, stored, providerID, d, now)
			if err != nil {
				return err
			}
			ids[sec.Key()] = sec.ID()
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return ids, nil
}

// upsertSecurity inserts d as a new security of providerID, or updates the
// one of stored with its key if d changes it, and records it in stored.
func upsertSecurity(tx *gorm.DB, stored map[finance.SecurityKey]*finance.Security, providerID uuid.UUID,
	d finance.SecurityDetails, now time.Time,
) (*finance.Security, error) {
	if sec, ok := stored[d.Key()]; ok {
		changed, err := sec.Update(d, now)
		if err != nil || !changed {
			return sec, fromCaller(err)
		}
		row := securityFromDomain(sec)
		return sec, tx.Save(&row).Error
	}
	id, err := uuid.NewV7()
	if err != nil {
		return nil, err
	}
	sec, err := finance.NewSecurity(id, providerID, d, now)
	if err != nil {
		return nil, fromCaller(err)
	}
	row := securityFromDomain(sec)
	if err := tx.Create(&row).Error; err != nil {
		return nil, err
	}
	stored[sec.Key()] = sec
	return sec, nil
}

// loadSecurities returns the provider's stored securities whose key values
// are among those of securities, by key.
func loadSecurities(tx *gorm.DB, providerID uuid.UUID, securities []finance.SecurityDetails) (map[finance.SecurityKey]*finance.Security, error) {
	out := make(map[finance.SecurityKey]*finance.Security, len(securities))
	if len(securities) == 0 {
		return out, nil
	}
	values := make([]string, 0, len(securities))
	for _, d := range securities {
		values = append(values, d.Key().Value)
	}
	var rows []securityRow
	if err := tx.Where("provider_id = ? AND key_value IN ?", providerID, values).Find(&rows).Error; err != nil {
		return nil, err
	}
	for _, r := range rows {
		sec, err := r.toDomain()
		if err != nil {
			return nil, err
		}
		out[sec.Key()] = sec
	}
	return out, nil
}

// UpdateHoldings locks the account's provider and then the account
// (lockAccount), loads the account's holdings, calls fn and makes the stored
// holdings what fn returns, in one transaction: stored ones fn left out are
// deleted, changed ones updated, new ones inserted. A holding whose values are
// as stored but for its as-of is saved without counting as updated. An
// unknown account is domain.ErrNotFound; a holding of another account is
// financeapp.ErrForeignRecord; one security twice is
// finance.ErrDuplicateHolding.
func (s *FinanceStore) UpdateHoldings(ctx context.Context, accountID uuid.UUID,
	fn func(stored []*finance.Holding) ([]*finance.Holding, error),
) (financeapp.HoldingCounts, error) {
	var counts financeapp.HoldingCounts
	err := s.db.inTx(ctx, "update holdings of account "+accountID.String(), func(tx *gorm.DB) error {
		if _, err := s.lockAccount(tx, accountID); err != nil {
			return err
		}
		var rows []holdingRow
		if err := tx.Where("account_id = ?", accountID).Order("id").Find(&rows).Error; err != nil {
			return err
		}
		before := make(map[uuid.UUID]*finance.Holding, len(rows))
		stored := make([]*finance.Holding, 0, len(rows))
		for _, r := range rows {
			h, err := r.toDomain()
			if err != nil {
				return err
			}
			before[h.ID()] = finance.RehydrateHolding(h.Snapshot())
			stored = append(stored, h)
		}
		answer, err := fn(stored)
		if err := fromCaller(err); err != nil {
			return err
		}
		counts, err = replaceHoldings(tx, accountID, before, answer)
		return err
	}, holdingKeyTaken)
	if err != nil {
		return financeapp.HoldingCounts{}, err
	}
	return counts, nil
}

// replaceHoldings makes the account's stored holdings (before, by id) the
// answer: deletes first, so that a security held again under a new holding
// does not collide with its old row, then updates and inserts.
func replaceHoldings(tx *gorm.DB, accountID uuid.UUID, before map[uuid.UUID]*finance.Holding, answer []*finance.Holding,
) (financeapp.HoldingCounts, error) {
	var counts financeapp.HoldingCounts
	kept := make(map[uuid.UUID]bool, len(answer))
	for _, h := range answer {
		if h.AccountID() != accountID {
			return counts, fromCaller(fmt.Errorf("%w: holding %s", financeapp.ErrForeignRecord, h.ID()))
		}
		kept[h.ID()] = true
	}
	var removed []uuid.UUID
	for id := range before {
		if !kept[id] {
			removed = append(removed, id)
		}
	}
	if len(removed) > 0 {
		if err := tx.Where("id IN ?", removed).Delete(&holdingRow{}).Error; err != nil {
			return counts, err
		}
	}
	counts.Removed = len(removed)
	var inserts []holdingRow
	for _, h := range answer {
		row := holdingFromDomain(h)
		was, ok := before[h.ID()]
		switch {
		case !ok:
			counts.Added++
			inserts = append(inserts, row)
		case unchangedHolding(was, h):
		default:
			if !sameHoldingValues(was.Details(), h.Details()) {
				counts.Updated++
			}
			if err := tx.Save(&row).Error; err != nil {
				return counts, err
			}
		}
	}
	if len(inserts) > 0 {
		if err := tx.CreateInBatches(&inserts, insertBatchRows).Error; err != nil {
			return counts, err
		}
	}
	return counts, nil
}

// unchangedHolding reports whether now is was as stored, to the text of its
// values and the microsecond of its times: then its row is not rewritten.
func unchangedHolding(was, now *finance.Holding) bool {
	a, b := was.Snapshot(), now.Snapshot()
	a.Details.AsOf, b.Details.AsOf = dbTime(a.Details.AsOf), dbTime(b.Details.AsOf)
	return a.Details == b.Details && dbTime(a.UpdatedAt).Equal(dbTime(b.UpdatedAt))
}

// sameHoldingValues reports whether a and b hold the same position, whatever
// the scale each is written at, leaving the as-of aside: a position a later
// answer confirms is not a change (finance.DiffHoldings' Confirmed).
func sameHoldingValues(a, b finance.HoldingDetails) bool {
	return a.SecurityID == b.SecurityID && a.Quantity.Cmp(b.Quantity) == 0 && a.Price.Equal(b.Price) &&
		a.PriceAsOf == b.PriceAsOf && a.MarketValue.Equal(b.MarketValue) && a.CostBasis.Equal(b.CostBasis)
}

// holdingViewColumns is the select list ListHoldings scans: the holding's
// columns, then its security's.
func holdingViewColumns(db *DB) string {
	return "h.id, h.account_id, h.security_id, h.quantity, h.price, h.price_as_of, h.market_value, h.cost_basis, " +
		"h.currency, " + db.timeColumn("h.as_of") + ", " + db.timeColumn("h.created_at") + ", " + db.timeColumn("h.updated_at") +
		", s.id, s.provider_id, s.key_scheme, s.key_value, s.institution_security_id, s.isin, s.cusip, s.symbol, s.name, " +
		"s.type, s.currency, s.cash_equivalent, " + db.timeColumn("s.created_at") + ", " + db.timeColumn("s.updated_at")
}

// ListHoldings returns one page of q.UserID's holdings matching q.Filter,
// each with its security, in order of holding id, after q.After when it is
// set. The user's accounts are found by the index (user_id, id) and their
// holdings by (account_id, security_id).
func (s *FinanceStore) ListHoldings(ctx context.Context, q financeapp.HoldingQuery) ([]financeapp.HoldingView, error) {
	stmt := s.db.newStatement()
	stmt.add("SELECT "+holdingViewColumns(s.db)+" FROM holdings h JOIN accounts a ON a.id = h.account_id "+
		"JOIN securities s ON s.id = h.security_id WHERE a.user_id = ?", q.UserID)
	f := q.Filter
	if f.AccountID != uuid.Nil {
		stmt.add(" AND h.account_id = ?", f.AccountID)
	}
	if f.ProviderID != uuid.Nil {
		stmt.add(" AND a.provider_id = ?", f.ProviderID)
	}
	if f.SecurityType != (finance.SecurityType{}) {
		stmt.add(" AND s.type = ?", f.SecurityType.String())
	}
	if f.Symbol != "" {
		stmt.add(" AND s.symbol = ?", f.Symbol)
	}
	if q.After != uuid.Nil {
		stmt.add(" AND h.id > ?", q.After)
	}
	stmt.add(" ORDER BY h.id LIMIT ")
	stmt.number(q.Limit)
	rows, err := s.db.query(ctx, stmt)
	if err != nil {
		return nil, dbError("list holdings", err)
	}
	defer func() { _ = rows.Close() }()
	out := make([]financeapp.HoldingView, 0, max(q.Limit, 0))
	for rows.Next() {
		var h holdingRow
		var sec securityRow
		if err := rows.Scan(&h.ID, &h.AccountID, &h.SecurityID, &h.Quantity, &h.Price, &h.PriceAsOf, &h.MarketValue,
			&h.CostBasis, &h.Currency, timeScan{&h.AsOf}, timeScan{&h.CreatedAt}, timeScan{&h.UpdatedAt},
			&sec.ID, &sec.ProviderID, &sec.KeyScheme, &sec.KeyValue, &sec.InstitutionSecurityID, &sec.ISIN, &sec.CUSIP,
			&sec.Symbol, &sec.Name, &sec.Type, &sec.Currency, &sec.CashEquivalent,
			timeScan{&sec.CreatedAt}, timeScan{&sec.UpdatedAt}); err != nil {
			return nil, dbError("list holdings", err)
		}
		holding, err := h.toDomain()
		if err != nil {
			return nil, err
		}
		security, err := sec.toDomain()
		if err != nil {
			return nil, err
		}
		out = append(out, financeapp.HoldingView{Holding: holding, Security: security})
	}
	if err := rows.Err(); err != nil {
		return nil, dbError("list holdings", err)
	}
	return out, nil
}
