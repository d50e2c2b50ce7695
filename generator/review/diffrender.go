package review

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/rampart-cluster/rampart/generator/policy"
)

// where renders a provenance with the full file name: "what (origin,
// file:line)", or only what when it has no place in a spec.
func where(p policy.Provenance) string {
	if p.Pos.Line == 0 {
		return p.What
	}
	return fmt.Sprintf("%s (%s, %s:%d)", p.What, p.Origin, p.Pos.File, p.Pos.Line)
}

func familiesText(fs []policy.Family) string { return strings.Join(familyNames(fs), ", ") }

// arrow renders a change's source and destination.
func (c *Change) arrow() string {
	if c.Table == TableOverlays {
		return fmt.Sprintf("overlay %s → overlay %s (forwarded)", c.From, c.To)
	}
	return c.From + " → " + c.To
}

func (m *MemberChange) sign() string {
	if m.Added {
		return "+"
	}
	return "-"
}

func (m *MemberChange) entry() string {
	return fmt.Sprintf("%s (%s, %s:%d)", m.Member.Prefix, m.Member.What, m.Member.Pos.File, m.Member.Pos.Line)
}

// WriteText writes the diff for a terminal.
func (d *Diff) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "who reaches what: %s → %s\n", d.Old, d.New)
	if d.Empty() {
		b.WriteString("no change: every source reaches what it reached before\n")
		_, err := io.WriteString(w, b.String())
		return err
	}
	for _, opened := range []bool{true, false} {
		title := "closed (accepted before, not now):"
		if opened {
			title = "OPENED (accepted now, not before):"
		}
		first := true
		for _, c := range d.Changes {
			if c.Opened != opened {
				continue
			}
			if first {
				fmt.Fprintf(&b, "\n%s\n", title)
				first = false
			}
			fmt.Fprintf(&b, "  %s  %s  (%s)\n", c.arrow(), c.What(), familiesText(c.Families))
			fmt.Fprintf(&b, "      now:    %s\n", where(c.Now))
			fmt.Fprintf(&b, "      before: %s\n", where(c.Before))
		}
	}
	if len(d.Members) > 0 {
		b.WriteString("\nsources gained (+) or lost (-) addresses:\n")
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		for _, m := range d.Members {
			note := ""
			if m.Opens {
				note = "\tOPENS: reaches what " + m.Source + " reaches"
			}
			fmt.Fprintf(tw, "  %s (%s)\t%s %s%s\n", m.Source, m.Family, m.sign(), m.entry(), note)
		}
		tw.Flush()
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteMarkdown writes the diff as a pull-request comment.
func (d *Diff) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "### rampart: who reaches what\n\n`%s` → `%s`\n\n", mdCell(d.Old), mdCell(d.New))
	if d.Empty() {
		b.WriteString("No change: every source reaches what it reached before.\n")
		_, err := io.WriteString(w, b.String())
		return err
	}
	for _, opened := range []bool{true, false} {
		title := "#### Closed: accepted before, not now"
		if opened {
			title = "#### :warning: Opened: accepted now, not before"
		}
		first := true
		for _, c := range d.Changes {
			if c.Opened != opened {
				continue
			}
			if first {
				fmt.Fprintf(&b, "%s\n\n| from → to | traffic | family | now | before |\n|---|---|---|---|---|\n", title)
				first = false
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", mdCell(c.arrow()), mdCell(c.What()), familiesText(c.Families), mdCell(where(c.Now)), mdCell(where(c.Before)))
		}
		if !first {
			b.WriteString("\n")
		}
	}
	if len(d.Members) > 0 {
		b.WriteString("#### Sources that gained (+) or lost (-) addresses\n\n| source | family | change | entry | note |\n|---|---|---|---|---|\n")
		for _, m := range d.Members {
			note := ""
			if m.Opens {
				note = ":warning: opens: reaches what " + m.Source + " reaches"
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", mdCell(m.Source), m.Family, m.sign(), mdCell(m.entry()), mdCell(note))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// The JSON form of a diff.
type (
	diffJSON struct {
		Old     string       `json:"old"`
		New     string       `json:"new"`
		Opened  bool         `json:"opened"`
		Changes []changeJSON `json:"changes"`
		Members []memberJSON `json:"members"`
	}
	changeJSON struct {
		Table    string   `json:"table"`
		From     string   `json:"from"`
		To       string   `json:"to"`
		Families []string `json:"families"`
		Traffic  string   `json:"traffic"`
		Opened   bool     `json:"opened"`
		Now      provJSON `json:"now"`
		Before   provJSON `json:"before"`
	}
	provJSON struct {
		What   string `json:"what"`
		Origin string `json:"origin,omitempty"`
		File   string `json:"file,omitempty"`
		Line   int    `json:"line,omitempty"`
	}
	memberJSON struct {
		Source string `json:"source"`
		Family string `json:"family"`
		Prefix string `json:"prefix"`
		Added  bool   `json:"added"`
		Opens  bool   `json:"opens"`
		What   string `json:"what"`
		File   string `json:"file"`
		Line   int    `json:"line"`
	}
)

func toProvJSON(p policy.Provenance) provJSON {
	return provJSON{What: p.What, Origin: p.Origin, File: p.Pos.File, Line: p.Pos.Line}
}

// WriteJSON writes the diff as indented JSON.
func (d *Diff) WriteJSON(w io.Writer) error {
	out := diffJSON{Old: d.Old, New: d.New, Opened: d.Opened(), Changes: []changeJSON{}, Members: []memberJSON{}}
	for _, c := range d.Changes {
		out.Changes = append(out.Changes, changeJSON{Table: c.Table, From: c.From, To: c.To, Families: familyNames(c.Families), Traffic: c.What(),
			Opened: c.Opened, Now: toProvJSON(c.Now), Before: toProvJSON(c.Before)})
	}
	for _, m := range d.Members {
		out.Members = append(out.Members, memberJSON{Source: m.Source, Family: m.Family.String(), Prefix: m.Member.Prefix.String(),
			Added: m.Added, Opens: m.Opens, What: m.Member.What, File: m.Member.Pos.File, Line: m.Member.Pos.Line})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// Write writes the diff in a format: text, markdown or json.
func (d *Diff) Write(w io.Writer, format string) error { return write(d, w, format) }
