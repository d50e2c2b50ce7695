package report

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
)

// Report is the entries of one run, in the order they were appended (or
// sorted with Sort).
type Report struct {
	Entries []Entry `json:"entries"`
}

// Append adds entries.
func (r *Report) Append(es ...Entry) { r.Entries = append(r.Entries, es...) }

// Merge adds every entry of another report.
func (r *Report) Merge(o Report) { r.Entries = append(r.Entries, o.Entries...) }

// Count is how many entries have the severity.
func (r Report) Count(s Severity) int {
	n := 0
	for _, e := range r.Entries {
		if e.Severity == s {
			n++
		}
	}
	return n
}

// IsFatal reports whether an entry is an error.
func (r Report) IsFatal() bool { return r.Count(Error) > 0 }

// Empty reports whether there is nothing to tell.
func (r Report) Empty() bool { return len(r.Entries) == 0 }

// Sort orders the entries by position, errors before warnings before info
// at one position; entries otherwise equal keep their order, and those
// without a position come after those with one.
func (r *Report) Sort() {
	sort.SliceStable(r.Entries, func(i, j int) bool {
		a, b := r.Entries[i], r.Entries[j]
		if (a.Pos == Pos{}) != (b.Pos == Pos{}) {
			return b.Pos == Pos{}
		}
		if a.Pos != b.Pos {
			return a.Pos.Before(b.Pos)
		}
		return a.Severity < b.Severity
	})
}

// String renders one entry per line.
func (r Report) String() string {
	var b strings.Builder
	for _, e := range r.Entries {
		b.WriteString(e.String())
		b.WriteByte('\n')
	}
	return b.String()
}

// Summary says how many errors and warnings there are, e.g.
// "2 error(s), 1 warning(s)".
func (r Report) Summary() string {
	return fmt.Sprintf("%d error(s), %d warning(s)", r.Count(Error), r.Count(Warning))
}

// WriteText writes one entry per line.
func (r Report) WriteText(w io.Writer) error {
	_, err := io.WriteString(w, r.String())
	return err
}

// WriteJSON writes the report as one JSON document: the entries (a list,
// never null) and the count of each severity.
func (r Report) WriteJSON(w io.Writer) error {
	entries := r.Entries
	if entries == nil {
		entries = []Entry{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(struct {
		Entries  []Entry `json:"entries"`
		Errors   int     `json:"errors"`
		Warnings int     `json:"warnings"`
	}{entries, r.Count(Error), r.Count(Warning)})
}

// Err is the report as an error when it is fatal, else nil: for callers
// that only need to fail. errors.As finds the *Failed to read the entries.
func (r Report) Err() error {
	if !r.IsFatal() {
		return nil
	}
	return &Failed{Report: r}
}

// Failed is a fatal report used as an error.
type Failed struct {
	Report Report
}

// Error renders the entries one per line, without a trailing newline.
func (f *Failed) Error() string { return strings.TrimSuffix(f.Report.String(), "\n") }
