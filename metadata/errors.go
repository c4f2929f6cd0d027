package metadata

import (
	"fmt"
	"strings"
)

// InvalidError lists every problem found in one document or configuration, so that an administrator
// can fix them all in one round instead of one per attempt.
type InvalidError struct {
	Subject  string   // what was checked, e.g. "SP metadata settings" or "IdP metadata"
	Problems []string // each a plain sentence without a trailing period
}

func (e *InvalidError) Error() string {
	return e.Subject + " is not valid: " + strings.Join(e.Problems, "; ")
}

// problems collects findings; err returns nil when there are none.
type problems struct {
	subject string
	list    []string
}

func (p *problems) add(format string, args ...any) {
	p.list = append(p.list, fmt.Sprintf(format, args...))
}

func (p *problems) err() error {
	if len(p.list) == 0 {
		return nil
	}
	return &InvalidError{Subject: p.subject, Problems: p.list}
}
