package money

import (
	"fmt"
	"math/big"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

func TestParseQuantityKeepsTheDigitsItWasGiven(t *testing.T) {
	for _, s := range []string{"0", "0.00", "-42.50", "1.00000000", "0.00000001", "-7",
		strings.Repeat("9", MaxIntegerDigits) + "." + strings.Repeat("9", MaxQuantityScale)} {
		d, err := ParseQuantity("quantity", s)
		if err != nil || d.String() != s {
			t.Errorf("ParseQuantity(%q) = %q, %v; want it unchanged", s, d, err)
		}
	}
}

func TestZeroHasNoSign(t *testing.T) {
	for s, want := range map[string]string{"-0": "0", "-0.00": "0.00", "-0.0000": "0.0000"} {
		d, err := ParseQuantity("quantity", s)
		if err != nil || d.String() != want || d.Sign() != 0 {
			t.Errorf("ParseQuantity(%q) = %q (sign %d), %v; want %q, sign 0", s, d, d.Sign(), err, want)
		}
	}
	if zero, _ := ParseQuantity("quantity", "0"); zero != (Decimal{}) {
		t.Errorf("parsed 0 = %#v, want the zero Decimal so that == agrees", zero)
	}
}

func TestParseQuantityRefusesWhatIsNotAPlainDecimal(t *testing.T) {
	for _, tc := range []struct {
		name, s, want string
	}{
		{"empty", "", "required"},
		{"NaN", "NaN", "invalid"},
		{"infinity", "Inf", "invalid"},
		{"signed infinity", "-Infinity", "invalid"},
		{"an exponent", "1e3", "invalid"},
		{"an upper-case exponent", "4.2E-1", "invalid"},
		{"a plus sign", "+1.5", "invalid"},
		{"a leading zero", "007", "invalid"},
		{"no integer part", ".5", "invalid"},
		{"no fraction after the point", "5.", "invalid"},
		{"a thousands separator", "1,000.00", "invalid"},
		{"a decimal comma", "1,5", "invalid"},
		{"spaces", " 1.5", "invalid"},
		{"the Unicode minus", "\u22121.5", "invalid"},
		{"two points", "1.2.3", "invalid"},
		{"a currency sign", "$5", "invalid"},
		{"hex", "0x10", "invalid"},
		{"nine decimals", "0.123456789", "too_precise"},
		{"sixteen integer digits", strings.Repeat("9", MaxIntegerDigits+1), "too_large"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := ParseQuantity("quantity", tc.s)
			if d != (Decimal{}) {
				t.Errorf("got %q", d)
			}
			if got := fieldCode(t, err, "quantity"); got != tc.want {
				t.Errorf("code %q, want %q", got, tc.want)
			}
		})
	}
}

func TestDecimalArithmeticKeepsTheLargerScale(t *testing.T) {
	q := func(s string) Decimal {
		d, err := ParseQuantity("q", s)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	for _, tc := range []struct {
		name string
		got  Decimal
		want string
	}{
		{"1.50 + 1", q("1.50").Add(q("1")), "2.50"},
		{"0.1 + 0.2", q("0.1").Add(q("0.2")), "0.3"},
		{"1 - 1.00", q("1").Sub(q("1.00")), "0.00"},
		{"0.10 - 0.3", q("0.10").Sub(q("0.3")), "-0.20"},
		{"-(42.50)", q("42.50").Neg(), "-42.50"},
		{"-(0.00)", q("0.00").Neg(), "0.00"},
		{"0 + 0", Decimal{}.Add(Decimal{}), "0"},
	} {
		if tc.got.String() != tc.want {
			t.Errorf("%s = %q, want %q", tc.name, tc.got, tc.want)
		}
	}
}

func TestDecimalComparesValuesWhateverTheScale(t *testing.T) {
	a, _ := ParseQuantity("q", "1.5")
	b, _ := ParseQuantity("q", "1.50")
	c, _ := ParseQuantity("q", "-2")
	if a.Cmp(b) != 0 || a == b {
		t.Errorf("1.5 vs 1.50: Cmp %d, == %v; want equal values of different scales", a.Cmp(b), a == b)
	}
	if c.Cmp(a) != -1 || a.Cmp(c) != 1 {
		t.Errorf("-2 vs 1.5: Cmp %d and %d, want -1 and 1", c.Cmp(a), a.Cmp(c))
	}
	if a.Sign() != 1 || c.Sign() != -1 || (Decimal{}).Sign() != 0 {
		t.Errorf("signs %d %d %d, want 1 -1 0", a.Sign(), c.Sign(), Decimal{}.Sign())
	}
	if a.Scale() != 1 || b.Scale() != 2 || c.Scale() != 0 {
		t.Errorf("scales %d %d %d, want 1 2 0", a.Scale(), b.Scale(), c.Scale())
	}
}

// decimalText draws a canonical decimal string with up to scale decimals, and
// its value as an integer count of 10^-MaxQuantityScale units.
func decimalText(t *rapid.T, label string, scale int) (string, *big.Int) {
	intPart := rapid.Int64Range(0, 999_999_999_999_999).Draw(t, label+"-int")
	places := rapid.IntRange(0, scale).Draw(t, label+"-places")
	frac := ""
	if places > 0 {
		frac = fmt.Sprintf("%0*d", places, rapid.Int64Range(0, pow10(places)-1).Draw(t, label+"-frac"))
	}
	neg := rapid.Bool().Draw(t, label+"-neg") && (intPart != 0 || strings.Trim(frac, "0") != "")
	s := fmt.Sprint(intPart)
	if frac != "" {
		s += "." + frac
	}
	units, _ := new(big.Int).SetString(fmt.Sprint(intPart)+frac+strings.Repeat("0", MaxQuantityScale-places), 10)
	if neg {
		s = "-" + s
		units.Neg(units)
	}
	return s, units
}

func pow10(n int) int64 {
	p := int64(1)
	for range n {
		p *= 10
	}
	return p
}

func TestParsingAndFormattingRoundTripExactly(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s, _ := decimalText(t, "d", MaxQuantityScale)
		d, err := ParseQuantity("quantity", s)
		if err != nil {
			t.Fatalf("ParseQuantity(%q): %v", s, err)
		}
		if d.String() != s {
			t.Fatalf("ParseQuantity(%q).String() = %q", s, d)
		}
		again, err := ParseQuantity("quantity", d.String())
		if err != nil || again != d {
			t.Fatalf("reparsing %q gave %q, %v", d, again, err)
		}
	})
}

func TestSumsAreExact(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(1, 20).Draw(t, "n")
		sum, want, scale := Decimal{}, new(big.Int), 0
		for i := range n {
			s, units := decimalText(t, fmt.Sprint("term", i), MaxQuantityScale)
			d, err := ParseQuantity("quantity", s)
			if err != nil {
				t.Fatal(err)
			}
			sum, scale = sum.Add(d), max(scale, d.Scale())
			want.Add(want, units)
		}
		got, ok := new(big.Int).SetString(strings.Replace(sum.String(), ".", "", 1)+strings.Repeat("0", MaxQuantityScale-sum.Scale()), 10)
		if !ok || got.Cmp(want) != 0 {
			t.Fatalf("sum %s is %v units of 1e-8, want %v", sum, got, want)
		}
		if sum.Scale() != scale {
			t.Fatalf("sum %s has scale %d, want the largest of its terms', %d", sum, sum.Scale(), scale)
		}
	})
}

func TestCmpOrdersLikeTheExactValues(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		as, au := decimalText(t, "a", MaxQuantityScale)
		bs, bu := decimalText(t, "b", MaxQuantityScale)
		a, errA := ParseQuantity("a", as)
		b, errB := ParseQuantity("b", bs)
		if errA != nil || errB != nil {
			t.Fatal(errA, errB)
		}
		if got, want := a.Cmp(b), au.Cmp(bu); got != want {
			t.Fatalf("%s Cmp %s = %d, want %d", a, b, got, want)
		}
		if got, want := a.Sign(), au.Sign(); got != want {
			t.Fatalf("%s has sign %d, want %d", a, got, want)
		}
	})
}
