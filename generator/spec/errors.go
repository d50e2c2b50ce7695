package spec

import (
	"sort"
	"strings"
)

// Error is one problem found in a spec, with where it is and a sentence a user
// understands.
type Error struct {
	Pos  Pos    // where the offending value was written
	Path string // the spec path of the value, e.g. roles.master.public[2]
	Msg  string // a sentence for the user, without position or path
}

// Error renders the problem like a compiler: file:line:col: path: message.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Pos.String())
	b.WriteString(": ")
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every problem found in one spec file, in file order.
type Errors []*Error

// Error renders one problem per line.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

func (es Errors) sorted() Errors {
	sort.SliceStable(es, func(i, j int) bool {
		a, b := es[i].Pos, es[j].Pos
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
	return es
}
