package finance

import (
	"errors"
	"sort"
	"testing"
	"time"

	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/domain/calendar"
	"github.com/dashtam/dashtam/domain/money"
)

var t0 = time.Date(2026, 12, 6, 3, 0, 0, 0, time.UTC)

// fieldCodes returns the field:code pairs of err, a validation error, sorted,
// failing the test for any other error.
func fieldCodes(t *testing.T, err error) []string {
	t.Helper()
	var verr *domain.ValidationError
	if !errors.As(err, &verr) {
		t.Fatalf("err = %v, want a validation error", err)
	}
	var got []string
	for _, f := range verr.Fields {
		got = append(got, f.Field+":"+f.Code)
	}
	sort.Strings(got)
	return got
}

func usd(t *testing.T, s string) money.Money {
	t.Helper()
	m, err := money.ParseAmount("amount", s, "USD")
	if err != nil {
		t.Fatal(err)
	}
	return m
}
func price(t *testing.T, s string) money.Money {
	t.Helper()
	m, err := money.ParsePrice("price", s, "USD")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func quantity(t *testing.T, s string) money.Decimal {
	t.Helper()
	d, err := money.ParseQuantity("quantity", s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func day(t *testing.T, s string) calendar.Date {
	t.Helper()
	d, err := calendar.ParseDate("date", s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}
