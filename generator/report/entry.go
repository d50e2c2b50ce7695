package report

import "strings"

// Entry is one thing a user is told.
type Entry struct {
	Severity Severity `json:"severity"`
	Code     string   `json:"code"`              // stable; tests and scripts match on it
	Path     Path     `json:"path,omitempty"`    // what the entry is about
	Pos      Pos      `json:"position,omitzero"` // where it was written; zero when nowhere
	Message  string   `json:"message"`           // a sentence, without position or path
}

// String renders the entry like a compiler's diagnostic:
// position: severity: path: message.
func (e Entry) String() string {
	var b strings.Builder
	if p := e.Pos.String(); p != "" {
		b.WriteString(p + ": ")
	}
	b.WriteString(e.Severity.String() + ": ")
	if len(e.Path) > 0 {
		b.WriteString(e.Path.String() + ": ")
	}
	b.WriteString(e.Message)
	return b.String()
}
