// Command baseline is the benchmark's yardstick: the least a Go service on the
// same stack must do to answer the same two reads. It is Gin in release mode with
// no middleware but panic recovery (no logs, request ids, rate limits or
// metrics), an HS256 JWT check with golang-jwt (no session lookup), and GORM on
// the same providers table the real service created and seeded:
//
//   - GET /api/v1/providers/:id: one query by id AND user_id;
//   - GET /api/v1/providers?limit=20[&cursor=…]: a keyset page of 20 on
//     (created_at DESC, id DESC), with has_more and next_cursor; the cursor is
//     plain base64url("created_at|id"), neither signed nor bound to a query;
//   - GET /api/v1/providers?page=N&per_page=20: an offset page and a COUNT;
//   - GET /api/v1/transactions?limit=20[&cursor=…]: a keyset page of the
//     caller's live transactions on (date DESC, id DESC), one query with a
//     row-value comparison; the cursor is plain base64url("YYYY-MM-DD|id").
//
// It answers the same JSON shape as the real service. test/bench/cmd/bench
// starts it against the database (Postgres schema or SQLite file) the real
// service migrated, with the same JWT key, issuer and audience, so the same
// access token works on both.
package main

import (
	"context"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/glebarez/sqlite"
	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8090", "listen address")
	dbURL := flag.String("database-url", "", "postgres:// URL (empty: -sqlite)")
	sqlitePath := flag.String("sqlite", "", "SQLite database file")
	jwtKey := flag.String("jwt-key", "", "HS256 secret, base64")
	issuer := flag.String("issuer", "", "expected iss claim")
	audience := flag.String("audience", "", "expected aud claim")
	flag.Parse()

	key, err := base64.StdEncoding.DecodeString(*jwtKey)
	if err != nil || len(key) < 32 {
		log.Fatal("baseline: -jwt-key must be base64 of at least 32 bytes")
	}
	db, err := open(*dbURL, *sqlitePath)
	if err != nil {
		log.Fatal("baseline: ", err)
	}
	srv := &http.Server{
		Addr:              *addr,
		Handler:           router(db, key, *issuer, *audience),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal("baseline: ", err)
	}
}

// open connects like the real service does: the same drivers, pool sizes and
// SQLite pragmas, no statement cache, no default transaction, no query log.
func open(url, sqlitePath string) (*gorm.DB, error) {
	cfg := &gorm.Config{Logger: logger.Discard, SkipDefaultTransaction: true}
	var (
		db  *gorm.DB
		err error
	)
	if url != "" {
		db, err = gorm.Open(postgres.Open(url), cfg)
	} else {
		db, err = gorm.Open(sqlite.Open("file:"+sqlitePath+
			"?_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_pragma=busy_timeout(10000)&_pragma=synchronous(NORMAL)"), cfg)
	}
	if err != nil {
		return nil, err
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, err
	}
	n := 20
	if url == "" {
		n = 8
	}
	sqlDB.SetMaxOpenConns(n)
	sqlDB.SetMaxIdleConns(n)
	return db, sqlDB.Ping()
}

// providerRow is the providers table (migrations/*/00002_providers.sql).
type providerRow struct {
	ID               uuid.UUID `gorm:"column:id;primaryKey"`
	UserID           uuid.UUID `gorm:"column:user_id"`
	ProviderKey      string    `gorm:"column:provider_key"`
	Alias            string    `gorm:"column:alias"`
	AliasKey         string    `gorm:"column:alias_key"`
	ConnectionStatus string    `gorm:"column:connection_status"`
	Version          int64     `gorm:"column:version"`
	CreatedAt        time.Time `gorm:"column:created_at"`
	UpdatedAt        time.Time `gorm:"column:updated_at"`
}

func (providerRow) TableName() string { return "providers" }

type links struct {
	Self          string `json:"self"`
	Authorization string `json:"authorization"`
}

type providerJSON struct {
	ID               uuid.UUID `json:"id"`
	ProviderKey      string    `json:"provider_key"`
	Alias            string    `json:"alias"`
	ConnectionStatus string    `json:"connection_status"`
	CreatedAt        time.Time `json:"created_at"`
	UpdatedAt        time.Time `json:"updated_at"`
	Links            links     `json:"_links"`
}

func toJSON(r providerRow) providerJSON {
	self := "/api/v1/providers/" + r.ID.String()
	return providerJSON{
		ID: r.ID, ProviderKey: r.ProviderKey, Alias: r.Alias, ConnectionStatus: r.ConnectionStatus,
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(),
		Links: links{Self: self, Authorization: self + "/authorization"},
	}
}

type listJSON struct {
	Items      []providerJSON `json:"items"`
	NextCursor *string        `json:"next_cursor,omitempty"`
	HasMore    *bool          `json:"has_more,omitempty"`
	Total      *int64         `json:"total,omitempty"`
	Page       *int           `json:"page,omitempty"`
	PerPage    *int           `json:"per_page,omitempty"`
}

const ctxUser = "uid"

func router(db *gorm.DB, key []byte, issuer, audience string) *gin.Engine {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.Use(gin.Recovery(), authenticate(key, issuer, audience))
	r.GET("/api/v1/providers/:id", func(c *gin.Context) {
		id, err := uuid.Parse(c.Param("id"))
		if err != nil {
			c.AbortWithStatus(http.StatusNotFound)
			return
		}
		var row providerRow
		err = db.WithContext(c.Request.Context()).Where("id = ? AND user_id = ?", id, c.MustGet(ctxUser)).Take(&row).Error
		switch {
		case errors.Is(err, gorm.ErrRecordNotFound):
			c.AbortWithStatus(http.StatusNotFound)
		case err != nil:
			c.AbortWithStatus(http.StatusInternalServerError)
		default:
			c.JSON(http.StatusOK, toJSON(row))
		}
	})
	r.GET("/api/v1/providers", func(c *gin.Context) {
		user := c.MustGet(ctxUser)
		q := db.WithContext(c.Request.Context()).Model(&providerRow{}).Where("user_id = ?", user)
		var body listJSON
		if page := c.Query("page"); page != "" {
			n, err1 := strconv.Atoi(page)
			per, err2 := strconv.Atoi(c.DefaultQuery("per_page", "20"))
			if err1 != nil || err2 != nil || n < 1 || per < 1 || per > 100 {
				c.AbortWithStatus(http.StatusUnprocessableEntity)
				return
			}
			var total int64
			if err := q.Count(&total).Error; err != nil {
				c.AbortWithStatus(http.StatusInternalServerError)
				return
			}
			var rows []providerRow
			err := db.WithContext(c.Request.Context()).Where("user_id = ?", user).
				Order("created_at DESC, id DESC").Offset((n - 1) * per).Limit(per).Find(&rows).Error
			if err != nil {
				c.AbortWithStatus(http.StatusInternalServerError)
				return
			}
			body.Items = make([]providerJSON, len(rows))
			for i, row := range rows {
				body.Items[i] = toJSON(row)
			}
			body.Total, body.Page, body.PerPage = &total, &n, &per
			c.JSON(http.StatusOK, body)
			return
		}
		limit, err := strconv.Atoi(c.DefaultQuery("limit", "20"))
		if err != nil || limit < 1 || limit > 100 {
			c.AbortWithStatus(http.StatusUnprocessableEntity)
			return
		}
		if cur := c.Query("cursor"); cur != "" {
			at, id, ok := decodeCursor(cur)
			if !ok {
				c.AbortWithStatus(http.StatusUnprocessableEntity)
				return
			}
			q = q.Where("(created_at, id) < (?, ?)", at, id)
		}
		var rows []providerRow
		if err := q.Order("created_at DESC, id DESC").Limit(limit + 1).Find(&rows).Error; err != nil {
			c.AbortWithStatus(http.StatusInternalServerError)
			return
		}
		more := len(rows) > limit
		if more {
			rows = rows[:limit]
			next := encodeCursor(rows[limit-1].CreatedAt, rows[limit-1].ID)
			body.NextCursor = &next
		}
		body.HasMore = &more
		body.Items = make([]providerJSON, len(rows))
		for i, row := range rows {
			body.Items[i] = toJSON(row)
		}
		c.JSON(http.StatusOK, body)
	})
	r.GET("/api/v1/transactions", func(c *gin.Context) {
		limit, err := strconv.Atoi(c.DefaultQuery("limit", "20"))
		if err != nil || limit < 1 || limit > 100 {
			c.AbortWithStatus(http.StatusUnprocessableEntity)
			return
		}
		q := db.WithContext(c.Request.Context()).Where("user_id = ? AND removed_at IS NULL", c.MustGet(ctxUser))
		if cur := c.Query("cursor"); cur != "" {
			raw, err := base64.RawURLEncoding.DecodeString(cur)
			date, idText, ok := strings.Cut(string(raw), "|")
			id, err2 := uuid.Parse(idText)
			if err != nil || !ok || err2 != nil || len(date) != len(time.DateOnly) {
				c.AbortWithStatus(http.StatusUnprocessableEntity)
				return
			}
			q = q.Where("(date, id) < (?, ?)", date, id)
		}
		var rows []transactionRow
		if err := q.Order("date DESC, id DESC").Limit(limit + 1).Find(&rows).Error; err != nil {
			c.AbortWithStatus(http.StatusInternalServerError)
			return
		}
		body := transactionListJSON{Links: pageLinks{Self: c.Request.URL.RequestURI()}}
		if len(rows) > limit {
			rows = rows[:limit]
			last := rows[limit-1]
			next := base64.RawURLEncoding.EncodeToString([]byte(string(last.Date) + "|" + last.ID.String()))
			body.NextCursor, body.HasMore = &next, true
			link := "/api/v1/transactions?limit=" + strconv.Itoa(limit) + "&cursor=" + next
			body.Links.Next = &link
		}
		body.Items = make([]transactionJSON, len(rows))
		for i, row := range rows {
			body.Items[i] = row.toJSON()
		}
		c.JSON(http.StatusOK, body)
	})
	return r
}

// transactionRow is the transactions table
// (migrations/*/00008_accounts_transactions.sql), but for the columns no read
// returns.
type transactionRow struct {
	ID               uuid.UUID   `gorm:"column:id"`
	AccountID        uuid.UUID   `gorm:"column:account_id"`
	ProviderID       uuid.UUID   `gorm:"column:provider_id"`
	Status           string      `gorm:"column:status"`
	Amount           string      `gorm:"column:amount"`
	Currency         string      `gorm:"column:currency"`
	Date             ledgerDate  `gorm:"column:date"`
	AuthorizedDate   *ledgerDate `gorm:"column:authorized_date"`
	PostedDate       *ledgerDate `gorm:"column:posted_date"`
	Description      string      `gorm:"column:description"`
	MerchantName     string      `gorm:"column:merchant_name"`
	CategoryPrimary  string      `gorm:"column:category_primary"`
	CategoryDetailed string      `gorm:"column:category_detailed"`
	Kind             string      `gorm:"column:kind"`
	SecurityID       *uuid.UUID  `gorm:"column:security_id"`
	Quantity         *string     `gorm:"column:quantity"`
	Price            *string     `gorm:"column:price"`
	Fees             *string     `gorm:"column:fees"`
	CreatedAt        time.Time   `gorm:"column:created_at"`
	UpdatedAt        time.Time   `gorm:"column:updated_at"`
}

func (transactionRow) TableName() string { return "transactions" }

// ledgerDate is a DATE (Postgres) or YYYY-MM-DD text (SQLite), kept as text.
type ledgerDate string

func (d *ledgerDate) Scan(v any) error {
	switch v := v.(type) {
	case time.Time:
		*d = ledgerDate(v.Format(time.DateOnly))
	case string:
		*d = ledgerDate(v)
	case []byte:
		*d = ledgerDate(v)
	default:
		return fmt.Errorf("date: unexpected %T", v)
	}
	return nil
}

type categoryJSON struct {
	Primary  *string `json:"primary"`
	Detailed *string `json:"detailed"`
}

type investmentJSON struct {
	SecurityID uuid.UUID `json:"security_id"`
	Quantity   string    `json:"quantity"`
	Price      *string   `json:"price"`
	Fees       *string   `json:"fees"`
}

type transactionLinks struct {
	Self    string `json:"self"`
	Account string `json:"account"`
}

type transactionJSON struct {
	ID             uuid.UUID        `json:"id"`
	AccountID      uuid.UUID        `json:"account_id"`
	ProviderID     uuid.UUID        `json:"provider_id"`
	Status         string           `json:"status"`
	Amount         string           `json:"amount"`
	Currency       string           `json:"currency"`
	Date           string           `json:"date"`
	AuthorizedDate *string          `json:"authorized_date"`
	PostedDate     *string          `json:"posted_date"`
	Description    string           `json:"description"`
	MerchantName   *string          `json:"merchant_name"`
	Category       categoryJSON     `json:"category"`
	Kind           string           `json:"kind"`
	Investment     *investmentJSON  `json:"investment"`
	CreatedAt      time.Time        `json:"created_at"`
	UpdatedAt      time.Time        `json:"updated_at"`
	Links          transactionLinks `json:"_links"`
}

type pageLinks struct {
	Self string  `json:"self"`
	Next *string `json:"next,omitempty"`
}

type transactionListJSON struct {
	Items      []transactionJSON `json:"items"`
	NextCursor *string           `json:"next_cursor"`
	HasMore    bool              `json:"has_more"`
	Links      pageLinks         `json:"_links"`
}

func orNil(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func (r transactionRow) toJSON() transactionJSON {
	date := func(d *ledgerDate) *string {
		if d == nil {
			return nil
		}
		s := string(*d)
		return &s
	}
	t := transactionJSON{
		ID: r.ID, AccountID: r.AccountID, ProviderID: r.ProviderID, Status: r.Status, Amount: r.Amount,
		Currency: r.Currency, Date: string(r.Date), AuthorizedDate: date(r.AuthorizedDate), PostedDate: date(r.PostedDate),
		Description: r.Description, MerchantName: orNil(r.MerchantName),
		Category: categoryJSON{Primary: orNil(r.CategoryPrimary), Detailed: orNil(r.CategoryDetailed)},
		Kind:     r.Kind, CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(),
		Links: transactionLinks{Self: "/api/v1/transactions/" + r.ID.String(), Account: "/api/v1/accounts/" + r.AccountID.String()},
	}
	if r.SecurityID != nil && r.Quantity != nil {
		t.Investment = &investmentJSON{SecurityID: *r.SecurityID, Quantity: *r.Quantity, Price: r.Price, Fees: r.Fees}
	}
	return t
}

// authenticate checks an HS256 access token (signature, exp, iss, aud) and puts
// its subject, the user id, in the context. No session lookup.
func authenticate(key []byte, issuer, audience string) gin.HandlerFunc {
	parser := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(issuer),
		jwt.WithAudience(audience),
		jwt.WithExpirationRequired(),
	)
	keyFunc := func(*jwt.Token) (any, error) { return key, nil }
	return func(c *gin.Context) {
		raw, ok := strings.CutPrefix(c.GetHeader("Authorization"), "Bearer ")
		if !ok {
			c.AbortWithStatus(http.StatusUnauthorized)
			return
		}
		var claims jwt.RegisteredClaims
		if _, err := parser.ParseWithClaims(raw, &claims, keyFunc); err != nil {
			c.AbortWithStatus(http.StatusUnauthorized)
			return
		}
		uid, err := uuid.Parse(claims.Subject)
		if err != nil {
			c.AbortWithStatus(http.StatusUnauthorized)
			return
		}
		c.Set(ctxUser, uid)
		c.Next()
	}
}

// encodeCursor is the baseline's cursor: base64url("RFC3339Nano|uuid").
func encodeCursor(at time.Time, id uuid.UUID) string {
	return base64.RawURLEncoding.EncodeToString([]byte(at.UTC().Format(time.RFC3339Nano) + "|" + id.String()))
}

func decodeCursor(s string) (time.Time, uuid.UUID, bool) {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return time.Time{}, uuid.Nil, false
	}
	ts, idText, ok := strings.Cut(string(raw), "|")
	if !ok {
		return time.Time{}, uuid.Nil, false
	}
	at, err1 := time.Parse(time.RFC3339Nano, ts)
	id, err2 := uuid.Parse(idText)
	if err1 != nil || err2 != nil {
		return time.Time{}, uuid.Nil, false
	}
	return at.UTC(), id, true
}
