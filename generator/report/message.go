package report

import "fmt"

// Message is one kind of entry a package reports: its stable code, its
// severity and the format of its sentence. A package declares its messages
// together, in one file, and makes entries with At.
type Message struct {
	Code     string // stable, e.g. spec.unknown-key, audit.lockout, drift.missing-rule, tree.stale
	Severity Severity
	Format   string // fmt format of the sentence, without position or path
}

// At makes an entry of this message about path, written at pos.
func (m Message) At(path Path, pos Pos, args ...any) Entry {
	return Entry{Severity: m.Severity, Code: m.Code, Path: path, Pos: pos, Message: fmt.Sprintf(m.Format, args...)}
}
