package review

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/rampart-cluster/rampart/generator/policy"
	"github.com/rampart-cluster/rampart/generator/policy/ranges"
)

// Output formats of matrix and diff.
const (
	FormatText     = "text"
	FormatMarkdown = "markdown"
	FormatJSON     = "json"
)

// Formats lists the output formats.
var Formats = []string{FormatText, FormatMarkdown, FormatJSON}

// matrixNote says what a cell means; both text and markdown print it.
const matrixNote = "New connections accepted by the policy (loopback, replies and the ICMP a network needs are always accepted; \"icmp\" is echo requests)."

// betweenNote says what a cell of the isolation table means.
const betweenNote = "Forwarded from an overlay (row) to an overlay (column): what rampart lets through; other FORWARD rules may still decide it."

// rowLabel adds the families to a row's label when it has addresses in one only.
func rowLabel(r *Row) string {
	fs := r.Families()
	switch {
	case r.Kind == World || len(fs) == 2:
		return r.Label
	case len(fs) == 0:
		return r.Label + " (no addresses)"
	}
	return fmt.Sprintf("%s (%s only)", r.Label, fs[0])
}

// WriteText writes the matrix as aligned text tables.
func (m *Matrix) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "cluster %s: who reaches what\n%s\n\n", m.Cluster, matrixNote)
	table(&b, "from \\ to", m.Roles, m.Rows)
	if len(m.Between) > 0 {
		fmt.Fprintf(&b, "\nbetween overlays\n%s\n\n", betweenNote)
		table(&b, "from \\ to", m.Overlays, m.Between)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func table(b *strings.Builder, corner string, cols []string, rows []Row) {
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "%s\t%s\n", corner, strings.Join(cols, "\t"))
	for i := range rows {
		r := &rows[i]
		cells := make([]string, len(r.Cells))
		for j, c := range r.Cells {
			cells[j] = c.String()
		}
		fmt.Fprintf(tw, "%s\t%s\n", rowLabel(r), strings.Join(cells, "\t"))
	}
	tw.Flush()
}

// WriteMarkdown writes the matrix as markdown tables.
func (m *Matrix) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "### Who reaches what: cluster `%s`\n\n%s\n\n", m.Cluster, matrixNote)
	mdTable(&b, m.Roles, m.Rows)
	if len(m.Between) > 0 {
		fmt.Fprintf(&b, "\n#### Between overlays\n\n%s\n\n", betweenNote)
		mdTable(&b, m.Overlays, m.Between)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// mdCell escapes what would break a markdown table cell.
func mdCell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
}

func mdTable(b *strings.Builder, cols []string, rows []Row) {
	b.WriteString("| from \\ to |")
	for _, c := range cols {
		fmt.Fprintf(b, " %s |", mdCell(c))
	}
	b.WriteString("\n|---|")
	for range cols {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	for i := range rows {
		r := &rows[i]
		fmt.Fprintf(b, "| **%s** |", mdCell(rowLabel(r)))
		for _, c := range r.Cells {
			fmt.Fprintf(b, " %s |", mdCell(c.String()))
		}
		b.WriteString("\n")
	}
}

// The JSON form of a matrix.
type (
	matrixJSON struct {
		Cluster  string    `json:"cluster"`
		Roles    []string  `json:"roles"`
		Rows     []rowJSON `json:"rows"`
		Overlays []string  `json:"overlays,omitempty"`
		Between  []rowJSON `json:"between_overlays,omitempty"`
	}
	rowJSON struct {
		Label    string     `json:"label"`
		Kind     string     `json:"kind"`
		Name     string     `json:"name"`
		Families []string   `json:"families"`
		Cells    []cellJSON `json:"cells"`
	}
	cellJSON struct {
		To   string                `json:"to"`
		Text string                `json:"text"`
		By   map[string]accessJSON `json:"by_family"`
	}
	accessJSON struct {
		Text  string   `json:"text"`
		TCP   []string `json:"tcp"`
		UDP   []string `json:"udp"`
		ICMP  bool     `json:"icmp"`
		Other bool     `json:"other_protocols"`
	}
)

func rangesJSON(rs ranges.Ports) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.String()
	}
	return out
}

func rowsJSON(cols []string, rows []Row) []rowJSON {
	out := make([]rowJSON, 0, len(rows))
	for i := range rows {
		r := &rows[i]
		rj := rowJSON{Label: r.Label, Kind: r.Kind, Name: r.Name, Families: familyNames(r.Families())}
		for j, c := range r.Cells {
			cj := cellJSON{To: cols[j], Text: c.String(), By: map[string]accessJSON{}}
			for _, f := range policy.Families {
				if a := c[f]; a != nil {
					cj.By[f.String()] = accessJSON{Text: a.String(), TCP: rangesJSON(a.Open(TCP)), UDP: rangesJSON(a.Open(UDP)),
						ICMP: a.Accepts(ICMP, 0), Other: a.Accepts(Other, 0)}
				}
			}
			rj.Cells = append(rj.Cells, cj)
		}
		out = append(out, rj)
	}
	return out
}

// WriteJSON writes the matrix as indented JSON.
func (m *Matrix) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(matrixJSON{Cluster: m.Cluster, Roles: m.Roles, Rows: rowsJSON(m.Roles, m.Rows),
		Overlays: m.Overlays, Between: rowsJSON(m.Overlays, m.Between)})
}

// Write writes the matrix in a format: text, markdown or json.
func (m *Matrix) Write(w io.Writer, format string) error { return write(m, w, format) }

// report is what matrix and diff both print.
type report interface {
	WriteText(io.Writer) error
	WriteMarkdown(io.Writer) error
	WriteJSON(io.Writer) error
}

func write(r report, w io.Writer, format string) error {
	switch format {
	case FormatText:
		return r.WriteText(w)
	case FormatMarkdown:
		return r.WriteMarkdown(w)
	case FormatJSON:
		return r.WriteJSON(w)
	}
	return fmt.Errorf("unknown format %q (want text, markdown or json)", format)
}

// familyNames names families for JSON: "IPv4", "IPv6".
func familyNames(fs []policy.Family) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.String()
	}
	return out
}
