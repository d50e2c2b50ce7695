package drift

import (
	"fmt"
	"strings"

	"github.com/rampart-cluster/rampart/generator/report"
)

// Entry is the finding as the report people read: its code, its path
// (family, table or chain or set, the rule's index in its chain, the
// member), the line of the live input it points at, and a sentence.
func (f Finding) Entry() report.Entry {
	var path report.Path
	if f.Family != "" {
		path = path.Append(f.Family)
	}
	if setKind(f.Kind) && !strings.HasPrefix(f.Where, "set ") {
		path = path.Append("set") // an ipset: nftables names its sets "set NAME"
	}
	for _, w := range strings.Fields(f.Where) {
		path = path.Append(w)
	}
	if f.Pos > 0 {
		path = path.Append(f.Pos - 1)
	}
	switch f.Kind {
	case MissingMember:
		path = path.Append(f.Want)
	case ExtraMember:
		path = path.Append(f.Found)
	}
	var pos report.Pos
	if f.Line > 0 {
		pos = report.Pos{File: f.Input, Line: f.Line}
	}
	return messages[f.Kind].At(path, pos, f.tail())
}

// setKind reports whether a kind of finding is about a set or its members.
func setKind(kind string) bool {
	switch kind {
	case MissingSet, ExtraSet, ChangedSet, MissingMember, ExtraMember:
		return true
	}
	return false
}

// tail is what follows the kind in the sentence: the rule's position, what
// rampart wants and what runs, and why it matters.
func (f Finding) tail() string {
	var b strings.Builder
	if f.Pos > 0 {
		fmt.Fprintf(&b, " at position %d", f.Pos)
	}
	member := f.Kind == MissingMember || f.Kind == ExtraMember // the member is the path's last step
	switch {
	case member:
	case f.Want != "" && f.Found != "":
		fmt.Fprintf(&b, ": want %s; found %s", f.Want, f.Found)
	case f.Want != "":
		fmt.Fprintf(&b, ": %s", f.Want)
	case f.Found != "":
		fmt.Fprintf(&b, ": %s", f.Found)
	}
	if f.Detail != "" {
		fmt.Fprintf(&b, " — %s", f.Detail)
	}
	return b.String()
}

// Report is the findings as report entries, in their order.
func Report(fs []Finding) report.Report {
	var r report.Report
	for _, f := range fs {
		r.Append(f.Entry())
	}
	return r
}
