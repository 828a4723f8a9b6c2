// Package calendar holds Date, a day on a calendar with no time of day and no
// time zone: the ledger date an institution books a transaction on.
package calendar

import (
	"cmp"
	"fmt"
	"time"

	"github.com/dashtam/dashtam/domain"
)

// Date is a calendar date, such as a transaction's ledger date. It has no time
// zone on purpose: a connector takes it from the institution's own date field
// (Plaid's date, Schwab's trade date in New York time) and never derives it
// from a UTC timestamp, which would move late-evening transactions in the
// Americas to the next day. The zero Date is "no date". Dates are == when they
// name the same day, and order with Compare.
type Date struct {
	year  int
	month time.Month
	day   int
}

// ParseDate parses field's value, a date in the form YYYY-MM-DD that exists on
// the calendar (2024-02-29 does, 2023-02-29 does not). Errors are
// *domain.ValidationError on field.
func ParseDate(field, s string) (Date, error) {
	if s == "" {
		return Date{}, domain.NewValidationError(field, "required", "A date is required.")
	}
	// time.Parse wants exactly two-digit months and days, and refuses a day the
	// month does not have; it reads year 0000, which the calendar has not.
	t, err := time.Parse(time.DateOnly, s)
	if err != nil || t.Year() < 1 {
		return Date{}, domain.NewValidationError(field, "invalid", "Must be a calendar date in the form YYYY-MM-DD.")
	}
	return Date{t.Year(), t.Month(), t.Day()}, nil
}

// String returns the date as YYYY-MM-DD, or "" for the zero Date.
func (d Date) String() string {
	if d.IsZero() {
		return ""
	}
	return fmt.Sprintf("%04d-%02d-%02d", d.year, d.month, d.day)
}

// IsZero reports whether d is the zero Date (no date).
func (d Date) IsZero() bool { return d == Date{} }

// Year returns the year of the date.
func (d Date) Year() int { return d.year }

// Month returns the month of the date.
func (d Date) Month() time.Month { return d.month }

// Day returns the day of the month.
func (d Date) Day() int { return d.day }

// Compare returns -1 if d is before o, 0 if they are the same day, +1 if after.
// The zero Date is before every other.
func (d Date) Compare(o Date) int {
	return cmp.Or(cmp.Compare(d.year, o.year), cmp.Compare(d.month, o.month), cmp.Compare(d.day, o.day))
}

// Before reports whether d is an earlier day than o.
func (d Date) Before(o Date) bool { return d.Compare(o) < 0 }

// After reports whether d is a later day than o.
func (d Date) After(o Date) bool { return d.Compare(o) > 0 }
