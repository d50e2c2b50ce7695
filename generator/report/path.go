package report

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Path is a typed path to what an entry is about: each step is a key
// (string) or a list index (int). In a spec it is the path of a value
// (roles.master.public[1]); in a live ruleset the family, table, chain or
// set and member (IPv4.filter.RAMPART-INPUT[3]); in an output tree the
// file's slash-separated path as one step.
type Path []any

// At starts a path.
func At(steps ...any) Path { return Path(nil).Append(steps...) }

// Append returns the path followed by steps; the receiver is not changed.
// A step is a string (a key) or an int (an index).
func (p Path) Append(steps ...any) Path {
	out := make(Path, 0, len(p)+len(steps))
	out = append(out, p...)
	for _, s := range steps {
		switch v := s.(type) {
		case string, int:
			out = append(out, v)
		case Path:
			out = append(out, v...)
		default:
			out = append(out, fmt.Sprint(v)) // anything else is a key named by its printed form
		}
	}
	return out
}

// String renders the path as people read it: keys joined by dots, indexes
// in brackets; a key that holds a dot, a bracket or a space is quoted in
// brackets (sets.r-master-v4["10.0.0.7"]).
func (p Path) String() string {
	var b strings.Builder
	for i, s := range p {
		switch v := s.(type) {
		case int:
			b.WriteString("[" + strconv.Itoa(v) + "]")
		case string:
			if v == "" || strings.ContainsAny(v, ".[] \"") {
				b.WriteString("[" + strconv.Quote(v) + "]")
				continue
			}
			if i > 0 {
				b.WriteByte('.')
			}
			b.WriteString(v)
		}
	}
	return b.String()
}

// Last is the path's last step, nil for an empty path.
func (p Path) Last() any {
	if len(p) == 0 {
		return nil
	}
	return p[len(p)-1]
}

// MarshalJSON writes the steps as a list of strings and numbers.
func (p Path) MarshalJSON() ([]byte, error) { return json.Marshal([]any(p)) }
