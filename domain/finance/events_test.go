package finance

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/domain/event"
	"github.com/dashtam/dashtam/domain/money"
)

func TestABalanceChangesOnlyWhenItsAmountsDo(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	acct := uuid.New()
	first, err := NewBalance(acct, usd(t, "10.50"), usd(t, "9"), money.Money{}, t0)
	if err != nil {
		t.Fatal(err)
	}
	e, changed := BalanceChanged(nil, first, t0)
	if !changed || e.Type != event.AccountBalanceChanged || e.Data["account_id"] != acct.String() ||
		e.Data["current"] != "10.50" || e.Data["available"] != "9" || e.Data["currency"] != "USD" {
		t.Fatalf("first balance: %+v, %v; want account.balance_changed with its amounts as decimal strings", e, changed)
	}
	same, err := NewBalance(acct, usd(t, "10.5"), usd(t, "9.00"), money.Money{}, t0.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if _, changed := BalanceChanged(&first, same, t0); changed {
		t.Error("a daily snapshot of the same amounts is a change")
	}
	moved, err := NewBalance(acct, usd(t, "11"), usd(t, "9"), money.Money{}, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if e, changed := BalanceChanged(&first, moved, t0.Add(time.Hour)); !changed || e.Data["current"] != "11" {
		t.Errorf("a moved balance: %+v, %v", e, changed)
	}
}
