package devidp

import "fmt"

// Person is a synthetic test person the login page offers.
type Person struct {
	NationalID string // synthetic fødselsnummer or D-number (month + 80)
	Name       string
}

// DefaultPersons returns the built-in test persons: synthetic fødselsnumre (month + 80) and
// synthetic D-numbers (day + 40, month + 80), the numbering Tenor and ID-porten's TestID use, so a
// production configuration (which refuses synthetic numbers) can never accept them. The check
// digits are computed, not typed in.
func DefaultPersons() []Person {
	return []Person{
		{syntheticID(15, 1, 1990, 102, false), "Kari Nordtest"},
		{syntheticID(2, 7, 1985, 117, false), "Ola Prøvemann"},
		{syntheticID(31, 12, 1962, 243, false), "Ingrid Eksempelsen"},
		{syntheticID(28, 2, 2001, 513, false), "Lars Testesen"},
		{syntheticID(10, 5, 1978, 321, true), "Fatima Dnummer"},
		{syntheticID(3, 11, 1995, 455, true), "Jonas Utlending"},
	}
}

// Check-digit weights of Norwegian identity numbers (spec/PROFILE.md §8).
var (
	weightsK1 = []int{3, 7, 6, 1, 8, 9, 4, 5, 2}
	weightsK2 = []int{5, 4, 3, 2, 7, 6, 5, 4, 3, 2}
)

// syntheticID returns the synthetic identity number of a person born on the given date, taking
// the first individual number from individual upwards for which both classic check digits exist
// (a remainder that would give check digit 10 has no valid number).
func syntheticID(day, month, year, individual int, dNumber bool) string {
	if dNumber {
		day += 40
	}
	for n := individual; n < individual+1000; n++ {
		prefix := fmt.Sprintf("%02d%02d%02d%03d", day, month+80, year%100, n%1000)
		k1, ok := checkDigit(prefix, weightsK1)
		if !ok {
			continue
		}
		k2, ok := checkDigit(prefix+k1, weightsK2)
		if !ok {
			continue
		}
		return prefix + k1 + k2
	}
	panic("devidp: no valid individual number") // unreachable: about 4 in 5 numbers are valid
}

func checkDigit(digits string, weights []int) (string, bool) {
	sum := 0
	for i, w := range weights {
		sum += w * int(digits[i]-'0')
	}
	k := 11 - sum%11
	switch k {
	case 11:
		return "0", true
	case 10:
		return "", false
	}
	return fmt.Sprint(k), true
}
