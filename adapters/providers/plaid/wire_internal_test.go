package plaid

import (
	"encoding/json"
	"testing"
)

// A JSON number is converted from its own text: never through a float,
// which would turn 0.1 into 0.1000000000000000055511151231257827, and an
// exponent form is expanded exactly.
func TestJSONNumbersConvertExactlyEvenInExponentForm(t *testing.T) {
	for in, want := range map[string]string{
		"12.50":  "12.50",
		"0.1":    "0.1",
		"-42.5":  "-42.5",
		"1.5e-7": "0.00000015",
		"1E+3":   "1000",
		"-2.5e2": "-250",
	} {
		var n json.Number
		if err := json.Unmarshal([]byte(in), &n); err != nil {
			t.Fatal(err)
		}
		got, err := numberText(n)
		if err != nil || got != want {
			t.Errorf("numberText(%s) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := amountOf("amount", json.Number("0.00001"), "USD"); err == nil {
		t.Error("an amount with 5 decimals was accepted; the domain keeps 4 and never rounds")
	}
}
