package persistence

import (
	"database/sql"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/domain/provider"
)

// providerRow mirrors migrations/*/00002_providers.sql. gorm's automatic
// CreatedAt/UpdatedAt handling is off, because the domain sets those times from
// its clock.
type providerRow struct {
	ID               uuid.UUID `gorm:"column:id;primaryKey"`
	UserID           uuid.UUID `gorm:"column:user_id"`
	ProviderKey      string    `gorm:"column:provider_key"`
	Alias            string    `gorm:"column:alias"`
	AliasKey         string    `gorm:"column:alias_key"`
	ConnectionStatus string    `gorm:"column:connection_status"`
	Version          int64     `gorm:"column:version"`
	CreatedAt        time.Time `gorm:"column:created_at;autoCreateTime:false"`
	UpdatedAt        time.Time `gorm:"column:updated_at;autoCreateTime:false;autoUpdateTime:false"`
}

func (providerRow) TableName() string { return "providers" }

func providerFromDomain(p *provider.Provider) providerRow {
	return providerRow{
		ID:               p.ID(),
		UserID:           p.UserID(),
		ProviderKey:      p.Key(),
		Alias:            p.Alias(),
		AliasKey:         p.AliasKey(),
		ConnectionStatus: p.Status().String(),
		Version:          p.Version(),
		CreatedAt:        dbTime(p.CreatedAt()),
		UpdatedAt:        dbTime(p.UpdatedAt()),
	}
}

func (r providerRow) toDomain() (*provider.Provider, error) {
	status, err := provider.ParseStatus(r.ConnectionStatus)
	if err != nil {
		return nil, fmt.Errorf("provider %s: stored connection status is invalid: %w", r.ID, err)
	}
	return provider.Rehydrate(provider.Snapshot{ID: r.ID, UserID: r.UserID, Key: r.ProviderKey, Alias: r.Alias,
		Status: status, Version: r.Version, CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC()}), nil
}

// providerColumns is the select list scanProviders reads: every column but
// alias_key, which only filters.
func providerColumns(db *DB) string {
	return "id, user_id, provider_key, alias, connection_status, version, " +
		db.timeColumn("created_at") + ", " + db.timeColumn("updated_at")
}

// scanProviders reads every row of rows (selected with providerColumns) and
// closes them. sizeHint (when > 0) is how many rows to expect.
func scanProviders(rows *sql.Rows, sizeHint int) ([]*provider.Provider, error) {
	defer func() { _ = rows.Close() }()
	out := make([]*provider.Provider, 0, max(sizeHint, 0))
	for rows.Next() {
		var r providerRow
		if err := rows.Scan(&r.ID, &r.UserID, &r.ProviderKey, &r.Alias, &r.ConnectionStatus, &r.Version,
			timeScan{&r.CreatedAt}, timeScan{&r.UpdatedAt}); err != nil {
			return nil, err
		}
		p, err := r.toDomain()
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}
