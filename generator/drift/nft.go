package drift

import (
	"fmt"
	"io"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/rampart-cluster/rampart/generator/policy/ranges"
)

// NFT is the nftables state as `nft list ruleset` prints it, or as an
// `nft -f` file leaves it: tables with their sets and chains. Objects other
// than sets and chains (maps, flowtables, counters, ...) are read past.
type NFT struct {
	Tables map[string]*NFTTable // by "family name", e.g. "inet rampart"
	Name   string               // the input's name, as given to ParseNFT
}

// NFTTable is one table.
type NFTTable struct {
	Name   string               // "inet rampart"
	Sets   map[string]*NFTSet   // keyed by set name
	Chains map[string]*NFTChain // keyed by chain name
	Order  []string             // sets then chains as declared: "set NAME", "chain NAME"
}

// NFTSet is a named set: its declaration (type, flags, ...) and elements.
type NFTSet struct {
	Name     string   // set name within its table
	Decl     []string // normalised declaration lines, elements apart
	Elements []string // as written, one entry each
	LineNo   int      // line of its first declaration in the input
}

// NFTChain is a chain: its base-chain header (empty for a regular chain) and
// its rules in order.
type NFTChain struct {
	Name   string     // chain name within its table
	Header string     // its type and policy statements on one line, e.g. "type filter hook input priority filter; policy accept;"; "" for a regular chain
	Rules  []*NFTRule // in order
	LineNo int        // line of its first declaration in the input
}

// NFTRule is one rule: as written, its comment, and its meaning.
type NFTRule struct {
	Line    string // the logical line as written (braces' lines joined, # comments cut), its comment included
	LineNo  int    // line in the input where the rule starts
	Comment string // text of its comment "..." statement, quotes removed; "" when none
	key     string
}

// Key is the rule's meaning: equal keys, equal rules.
func (r *NFTRule) Key() string { return r.key }

// Text is the rule as written, without its comment.
func (r *NFTRule) Text() string {
	if i := commentIndex(r.Line); i >= 0 {
		return r.Line[:i]
	}
	return r.Line
}

// statement is one logical line of nft syntax: physical lines joined while
// braces are open (element lists), comments stripped.
type statement struct {
	text string
	no   int
}

// statements splits nft syntax into logical lines.
func statements(r io.Reader, name string) ([]statement, error) {
	var out []statement
	var cur strings.Builder
	start, depth := 0, 0
	err := lines(r, name, func(no int, line string) error {
		text, opens, err := stripComment(line)
		if err != nil {
			return &ParseError{Source: name, Line: no, Msg: err.Error()}
		}
		text = strings.TrimSpace(text)
		if text == "" {
			return nil
		}
		if cur.Len() == 0 {
			start = no
		} else {
			cur.WriteByte(' ')
		}
		cur.WriteString(text)
		depth += opens
		if depth < 0 {
			depth = 0 // a closing brace of a block: handled by the caller
		}
		if depth > 0 && !isBlockHeader(cur.String()) {
			if cur.Len() > maxLine {
				return &ParseError{Source: name, Line: no, Msg: "unbalanced braces"}
			}
			return nil
		}
		depth = 0
		out = append(out, statement{text: cur.String(), no: start})
		cur.Reset()
		return nil
	})
	if err != nil {
		return nil, err
	}
	if cur.Len() > 0 {
		return nil, &ParseError{Source: name, Line: start, Msg: "unbalanced braces"}
	}
	return out, nil
}

// stripComment removes a # comment outside quotes and counts the braces
// opened (minus closed) outside quotes.
func stripComment(line string) (string, int, error) {
	quoted := false
	opens := 0
	for i := 0; i < len(line); i++ {
		switch c := line[i]; {
		case c == '\\' && quoted && i+1 < len(line):
			i++
		case c == '"':
			quoted = !quoted
		case quoted:
		case c == '#':
			return line[:i], opens, nil
		case c == '{':
			opens++
		case c == '}':
			opens--
		}
	}
	if quoted {
		return "", 0, fmt.Errorf("unterminated quote in %q", short(line))
	}
	return line, opens, nil
}

// blockKinds start a block when a statement begins with them and ends in "{".
var blockKinds = []string{"table", "chain", "set", "map", "flowtable", "counter", "quota", "ct", "limit", "secmark", "synproxy", "tunnel"}

func isBlockHeader(s string) bool {
	if !strings.HasSuffix(s, "{") {
		return false
	}
	first, _, _ := strings.Cut(s, " ")
	return slices.Contains(blockKinds, first) && !strings.Contains(s, "=")
}

// ParseNFT reads `nft list ruleset` output or an nft -f file.
func ParseNFT(r io.Reader, name string) (*NFT, error) {
	sts, err := statements(r, name)
	if err != nil {
		return nil, err
	}
	n := &NFT{Tables: map[string]*NFTTable{}, Name: name}
	type frame struct {
		kind  string // table, set, chain, other
		table *NFTTable
		set   *NFTSet
		chain *NFTChain
	}
	var stack []frame
	for _, st := range sts {
		bad := func(format string, args ...any) error {
			return &ParseError{Source: name, Line: st.no, Msg: fmt.Sprintf(format, args...)}
		}
		s := st.text
		if s == "}" || strings.HasPrefix(s, "}") && strings.Trim(s, "} ") == "" {
			for range strings.Count(s, "}") {
				if len(stack) == 0 {
					return nil, bad("} closes nothing")
				}
				stack = stack[:len(stack)-1]
			}
			continue
		}
		words := strings.Fields(strings.TrimSuffix(s, "{"))
		var top *frame
		if len(stack) > 0 {
			top = &stack[len(stack)-1]
		}
		if isBlockHeader(s) {
			switch {
			case top == nil && words[0] == "table":
				t, err := n.table(words[1:])
				if err != nil {
					return nil, bad("%v", err)
				}
				stack = append(stack, frame{kind: "table", table: t})
			case top != nil && top.kind == "table" && words[0] == "set" && len(words) == 2:
				set := top.table.set(words[1], st.no)
				set.Decl = nil // declared again here; its elements stay, as nft adds to them
				stack = append(stack, frame{kind: "set", table: top.table, set: set})
			case top != nil && top.kind == "table" && words[0] == "chain" && len(words) == 2:
				c := top.table.Chains[words[1]]
				if c == nil {
					c = &NFTChain{Name: words[1], LineNo: st.no}
					top.table.Chains[c.Name] = c
					top.table.Order = append(top.table.Order, "chain "+c.Name)
				}
				stack = append(stack, frame{kind: "chain", table: top.table, chain: c})
			case top != nil:
				stack = append(stack, frame{kind: "other", table: top.table})
			default:
				return nil, bad("%q outside a table", short(s))
			}
			continue
		}
		switch {
		case top == nil:
			// commands: table X Y, delete table X Y, flush ruleset, ...
			if err := n.command(words); err != nil {
				return nil, bad("%v", err)
			}
		case top.kind == "set":
			if err := top.set.add(s); err != nil {
				return nil, bad("%v", err)
			}
		case top.kind == "chain":
			if strings.HasPrefix(s, "type ") || strings.HasPrefix(s, "policy ") {
				top.chain.Header = strings.TrimSpace(strings.Join(strings.Fields(top.chain.Header+" "+s), " "))
				continue
			}
			top.chain.Rules = append(top.chain.Rules, parseNFTRule(s, st.no))
		case top.kind == "table":
			// table flags, comments: not compared
		}
	}
	if len(stack) > 0 {
		return nil, &ParseError{Source: name, Line: sts[len(sts)-1].no, Msg: "a block is not closed"}
	}
	return n, nil
}

func (n *NFT) table(words []string) (*NFTTable, error) {
	key, err := tableKey(words)
	if err != nil {
		return nil, err
	}
	t := n.Tables[key]
	if t == nil {
		t = &NFTTable{Name: key, Sets: map[string]*NFTSet{}, Chains: map[string]*NFTChain{}}
		n.Tables[key] = t
	}
	return t, nil
}

// set returns the named set of the table, declared (without elements) if
// it is new.
func (t *NFTTable) set(name string, line int) *NFTSet {
	s := t.Sets[name]
	if s == nil {
		s = &NFTSet{Name: name, LineNo: line}
		t.Sets[name] = s
		t.Order = append(t.Order, "set "+name)
	}
	return s
}

// tableKey names a table "family name"; a table without a family is ip.
func tableKey(words []string) (string, error) {
	switch len(words) {
	case 1:
		return "ip " + words[0], nil
	case 2:
		return words[0] + " " + words[1], nil
	}
	return "", fmt.Errorf("table %q: want table [FAMILY] NAME", strings.Join(words, " "))
}

// command runs a top-level command of an nft -f file.
func (n *NFT) command(words []string) error {
	switch {
	case len(words) >= 2 && words[0] == "table":
		_, err := n.table(words[1:])
		return err
	case len(words) >= 3 && (words[0] == "delete" || words[0] == "destroy") && words[1] == "table":
		key, err := tableKey(words[2:])
		if err != nil {
			return err
		}
		delete(n.Tables, key)
		return nil
	case len(words) >= 3 && words[0] == "flush" && words[1] == "table":
		key, err := tableKey(words[2:])
		if err != nil {
			return err
		}
		if t := n.Tables[key]; t != nil {
			for _, c := range t.Chains {
				c.Rules = nil
			}
		}
		return nil
	case len(words) == 2 && words[0] == "flush" && words[1] == "ruleset":
		n.Tables = map[string]*NFTTable{}
		return nil
	case len(words) >= 4 && words[0] == "add" && words[1] == "set":
		// add set [FAMILY] TABLE NAME { type T; flags F; }
		head, decl, ok := strings.Cut(strings.Join(words[2:], " "), "{")
		if !ok || !strings.HasSuffix(strings.TrimSpace(decl), "}") {
			return fmt.Errorf("%q: want add set [FAMILY] TABLE NAME { ... }", short(strings.Join(words, " ")))
		}
		t, name, err := n.tableAndName(strings.Fields(head))
		if err != nil {
			return err
		}
		if t.Sets[name] != nil {
			return nil // nft leaves an existing set as it is
		}
		s := t.set(name, 0)
		for _, d := range strings.Split(strings.TrimSuffix(strings.TrimSpace(decl), "}"), ";") {
			if d = strings.Join(strings.Fields(d), " "); d != "" {
				s.Decl = append(s.Decl, d)
			}
		}
		return nil
	case len(words) >= 4 && words[0] == "flush" && words[1] == "set":
		t, name, err := n.tableAndName(words[2:])
		if err != nil {
			return err
		}
		s := t.Sets[name]
		if s == nil {
			return fmt.Errorf("flush set %s: no such set in table %s", name, t.Name)
		}
		s.Elements = nil
		return nil
	case len(words) > 0 && (words[0] == "add" || words[0] == "insert" || words[0] == "delete" || words[0] == "flush" || words[0] == "create" || words[0] == "list"):
		return fmt.Errorf("%q: only table blocks and table, delete table, flush table, flush ruleset, add set and flush set commands are read", short(strings.Join(words, " ")))
	}
	return fmt.Errorf("%q is not nft syntax this reads", short(strings.Join(words, " ")))
}

// tableAndName reads "[FAMILY] TABLE NAME" of a command on a table's
// object; the table must exist.
func (n *NFT) tableAndName(words []string) (*NFTTable, string, error) {
	if len(words) < 2 || len(words) > 3 {
		return nil, "", fmt.Errorf("%q: want [FAMILY] TABLE NAME", short(strings.Join(words, " ")))
	}
	key, err := tableKey(words[:len(words)-1])
	if err != nil {
		return nil, "", err
	}
	t := n.Tables[key]
	if t == nil {
		return nil, "", fmt.Errorf("table %s does not exist here", key)
	}
	return t, words[len(words)-1], nil
}

// add reads a line of a set block.
func (s *NFTSet) add(line string) error {
	if rest, ok := strings.CutPrefix(line, "elements"); ok {
		rest = strings.TrimSpace(rest)
		rest, ok = strings.CutPrefix(rest, "=")
		if !ok {
			return fmt.Errorf("elements without =")
		}
		rest = strings.TrimSpace(rest)
		if !strings.HasPrefix(rest, "{") || !strings.HasSuffix(rest, "}") {
			return fmt.Errorf("elements = { ... } expected")
		}
		for _, e := range strings.Split(strings.TrimSuffix(strings.TrimPrefix(rest, "{"), "}"), ",") {
			if e = strings.TrimSpace(e); e != "" {
				s.Elements = append(s.Elements, e)
			}
		}
		return nil
	}
	s.Decl = append(s.Decl, strings.Join(strings.Fields(line), " "))
	return nil
}

// parseNFTRule splits the comment from a rule and normalises the rest.
func parseNFTRule(line string, no int) *NFTRule {
	r := &NFTRule{Line: line, LineNo: no}
	text := line
	if i := commentIndex(line); i >= 0 {
		c := strings.TrimSpace(line[i+len(" comment "):])
		r.Comment = strings.Trim(c, `"`)
		text = line[:i]
	}
	r.key = normNFT(text)
	return r
}

// commentIndex finds ` comment "` outside quotes.
func commentIndex(line string) int {
	quoted := false
	for i := 0; i < len(line); i++ {
		switch {
		case line[i] == '"':
			quoted = !quoted
		case !quoted && strings.HasPrefix(line[i:], ` comment "`):
			return i
		}
	}
	return -1
}

// nftDefaults are parts nft adds when it prints a rule: what was written
// without them means the same.
var nftDefaults = []string{" burst 5 packets"}

// untyped is how nft 1.0 lists a value of an anonymous set whose type it
// cannot tell (the ports of "ct original proto-dst { 80, 443 }" come back as
// "0x50 [invalid type]"): the number is the same.
var untyped = regexp.MustCompile(`0x([0-9a-fA-F]+) \[invalid type\]`)

// normNFT normalises a rule's text: white space, addresses as prefixes,
// anonymous sets sorted, the "type" nft leaves out of a reject's icmp type,
// default parts dropped, untyped hexadecimal values read as the numbers
// they are.
func normNFT(s string) string {
	s = untyped.ReplaceAllStringFunc(s, func(m string) string {
		n, err := strconv.ParseUint(untyped.FindStringSubmatch(m)[1], 16, 64)
		if err != nil {
			return m
		}
		return strconv.FormatUint(n, 10)
	})
	words := strings.Fields(s)
	for i, w := range words {
		words[i] = normElement(w) // ip daddr 10.0.0.1/32 is printed 10.0.0.1
		if i > 0 && (words[i-1] == "l4proto" || words[i-1] == "protocol" || words[i-1] == "nexthdr") {
			words[i] = protoNumber(w) // meta l4proto 4 is printed ipencap
		}
	}
	s = " " + strings.Join(words, " ") + " "
	for _, d := range nftDefaults {
		s = strings.ReplaceAll(s, d+" ", " ")
	}
	for _, kind := range []string{"icmpx", "icmp", "icmpv6"} {
		s = strings.ReplaceAll(s, " reject with "+kind+" type ", " reject with "+kind+" ")
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "{")
		if i < 0 {
			b.WriteString(s)
			break
		}
		j := strings.Index(s[i:], "}")
		if j < 0 {
			b.WriteString(s)
			break
		}
		b.WriteString(s[:i])
		items := strings.Split(s[i+1:i+j], ",")
		for k := range items {
			items[k] = normElement(strings.TrimSpace(items[k]))
		}
		slices.Sort(items)
		b.WriteString("{ " + strings.Join(items, ", ") + " }")
		s = s[i+j+1:]
	}
	return strings.TrimSpace(b.String())
}

// normElement writes an address element as a prefix (10.0.0.1 and
// 10.0.0.1/32 are one element) and leaves the rest alone.
func normElement(e string) string {
	if p, err := parsePrefix(e); err == nil {
		return p.String()
	}
	return e
}

// Intervals returns a set's address elements as merged ranges, so that
// 10.0.0.1/32, 10.0.0.2/31 and "10.0.0.1-10.0.0.3" compare equal; other
// elements are returned apart, as written.
func (s *NFTSet) Intervals() ([]Range, []string) {
	var rs []Range
	var other []string
	for _, e := range s.Elements {
		if a, b, ok := strings.Cut(e, "-"); ok {
			lo, err1 := netip.ParseAddr(strings.TrimSpace(a))
			hi, err2 := netip.ParseAddr(strings.TrimSpace(b))
			if err1 == nil && err2 == nil && lo.Is4() == hi.Is4() && lo.Compare(hi) <= 0 {
				rs = append(rs, Range{lo, hi})
				continue
			}
		}
		if p, err := parsePrefix(e); err == nil {
			rs = append(rs, Range{p.Addr(), ranges.LastAddr(p)})
			continue
		}
		other = append(other, e)
	}
	slices.Sort(other)
	return mergeRanges(rs), other
}
