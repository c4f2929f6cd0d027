package identity

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
)

// ErrInvalidNationalID is the sentinel behind every rejected national identity number. The
// wrapping error names the reason but never the number: error text ends up in logs, and the
// number is personal data (spec/PROFILE.md §5).
var ErrInvalidNationalID = errors.New("identity: invalid national identity number")

// nationalIDError carries the reason a number was rejected.
type nationalIDError struct{ reason string }

func (e *nationalIDError) Error() string { return ErrInvalidNationalID.Error() + ": " + e.reason }
func (e *nationalIDError) Unwrap() error { return ErrInvalidNationalID }

func invalidNationalID(reason string) error { return &nationalIDError{reason: reason} }

const nationalIDLen = 11

// Weights of the two modulus-11 check digits (spec/PROFILE.md §8). The trailing 1 is the weight of
// the check digit itself, so a valid number sums to a multiple of 11 (k2), or, for k1 under the
// 2032 rule, to a remainder of 0..3.
var (
	weightsK1 = [10]int{3, 7, 6, 1, 8, 9, 4, 5, 2, 1}
	weightsK2 = [11]int{5, 4, 3, 2, 7, 6, 5, 4, 3, 2, 1}
)

// Offsets added to the day or month of birth to mark the kind of number.
const (
	dNumberDayOffset     = 40 // D-number: first digit + 4
	hNumberMonthOffset   = 40 // H-number
	syntheticMonthOffset = 80 // synthetic test persons (Tenor, TestID)
)

// daysInMonth allows 29 February: the century, and so the leap year, cannot be told from the
// eleven digits alone.
var daysInMonth = [13]int{0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}

// ParseNationalID validates an 11-digit Norwegian identity number (fødselsnummer, D-number,
// H-number or a synthetic test person's number) and reports its kind. It accepts the check digits
// of the numbers issued from 2032 (k1 may be up to 3 above the classic value) alongside the
// classic ones. It does not decide whether synthetic numbers are acceptable; see Kind.Synthetic.
//
// Any error wraps ErrInvalidNationalID and never contains the number.
func ParseNationalID(s string) (Kind, error) {
	if len(s) != nationalIDLen {
		return "", invalidNationalID("must be exactly 11 digits")
	}
	var d [nationalIDLen]int
	for i := range nationalIDLen {
		c := s[i]
		if c < '0' || c > '9' {
			return "", invalidNationalID("must be exactly 11 digits")
		}
		d[i] = int(c - '0')
	}

	sum1 := 0
	for i, w := range weightsK1 {
		sum1 += w * d[i]
	}
	if sum1%11 > 3 {
		return "", invalidNationalID("first check digit does not match")
	}
	sum2 := 0
	for i, w := range weightsK2 {
		sum2 += w * d[i]
	}
	if sum2%11 != 0 {
		return "", invalidNationalID("second check digit does not match")
	}

	day := d[0]*10 + d[1]
	month := d[2]*10 + d[3]
	dNumber := day > dNumberDayOffset
	if dNumber {
		day -= dNumberDayOffset
	}
	var kind Kind
	switch {
	case month >= 1 && month <= 12:
		kind = KindFNR
		if dNumber {
			kind = KindDNumber
		}
	case month > hNumberMonthOffset && month <= hNumberMonthOffset+12 && !dNumber:
		month -= hNumberMonthOffset
		kind = KindHNumber
	case month > syntheticMonthOffset && month <= syntheticMonthOffset+12:
		month -= syntheticMonthOffset
		kind = KindSyntheticFNR
		if dNumber {
			kind = KindSyntheticDNR
		}
	default:
		return "", invalidNationalID("month of birth out of range")
	}
	if day < 1 || day > daysInMonth[month] {
		return "", invalidNationalID("day of birth out of range")
	}
	return kind, nil
}

// Mask returns the number for display with the date-of-birth digits kept and the personal
// digits hidden, e.g. "311299*****". Anything that is not 11 ASCII digits is masked entirely, so a
// malformed value never leaks either.
func Mask(nationalID string) string {
	const masked = "***********"
	if len(nationalID) != nationalIDLen {
		return masked
	}
	for i := range nationalIDLen {
		if c := nationalID[i]; c < '0' || c > '9' {
			return masked
		}
	}
	return nationalID[:6] + masked[6:]
}

// Hash returns a keyed pseudonym of the number for correlating log lines without logging the
// number: the first 16 bytes of HMAC-SHA256 under key, hex-encoded (32 characters). A plain hash
// would not do: the space of valid numbers is small enough to enumerate.
func Hash(key []byte, nationalID string) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(nationalID))
	return hex.EncodeToString(mac.Sum(nil)[:16])
}
