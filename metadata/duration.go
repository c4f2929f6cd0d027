package metadata

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Calendar units of xs:duration have no fixed length; metadata uses them only as a cache hint, so a
// year counts as 365 days and a month as 30.
const (
	day   = 24 * time.Hour
	month = 30 * day
	year  = 365 * day
)

// parseDuration reads the xs:duration forms metadata uses (PnYnMnDTnHnMnS, fractions on seconds only).
// Negative durations are refused: a cacheDuration cannot point into the past.
func parseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "-") {
		return 0, errors.New("negative durations are not allowed")
	}
	rest, ok := strings.CutPrefix(s, "P")
	if !ok || rest == "" {
		return 0, errors.New("not an xs:duration (expected a form like PT6H or P1D)")
	}
	datePart, timePart, hasT := strings.Cut(rest, "T")
	if hasT && timePart == "" {
		return 0, errors.New("nothing follows T")
	}
	var total time.Duration
	add := func(part string, units []durationUnit) error {
		next := 0
		for part != "" {
			i := strings.IndexFunc(part, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
			if i <= 0 {
				return fmt.Errorf("malformed component near %q", part)
			}
			num, designator := part[:i], part[i]
			part = part[i+1:]
			j := next
			for j < len(units) && units[j].designator != designator {
				j++
			}
			if j == len(units) {
				return fmt.Errorf("unexpected or out-of-order %q", string(designator))
			}
			next = j + 1
			d, err := units[j].value(num)
			if err != nil {
				return err
			}
			if total > math.MaxInt64-d {
				return errors.New("too long")
			}
			total += d
		}
		return nil
	}
	if err := add(datePart, []durationUnit{{'Y', year, false}, {'M', month, false}, {'D', day, false}}); err != nil {
		return 0, err
	}
	if err := add(timePart, []durationUnit{{'H', time.Hour, false}, {'M', time.Minute, false}, {'S', time.Second, true}}); err != nil {
		return 0, err
	}
	return total, nil
}

type durationUnit struct {
	designator byte
	unit       time.Duration
	fraction   bool // only seconds may have a fractional part
}

func (u durationUnit) value(num string) (time.Duration, error) {
	whole, frac, hasFrac := strings.Cut(num, ".")
	if hasFrac && !u.fraction {
		return 0, fmt.Errorf("fraction not allowed before %q", string(u.designator))
	}
	if whole == "" || (hasFrac && (frac == "" || strings.Contains(frac, "."))) {
		return 0, fmt.Errorf("malformed number %q", num)
	}
	n, err := strconv.ParseInt(whole, 10, 64)
	if err != nil || n > int64(math.MaxInt64/u.unit) {
		return 0, errors.New("too long")
	}
	d := time.Duration(n) * u.unit
	if hasFrac {
		if len(frac) > 9 {
			frac = frac[:9]
		}
		ns, _ := strconv.ParseInt(frac+strings.Repeat("0", 9-len(frac)), 10, 64) // digits only: cannot fail
		if d > math.MaxInt64-time.Duration(ns) {
			return 0, errors.New("too long")
		}
		d += time.Duration(ns)
	}
	return d, nil
}
