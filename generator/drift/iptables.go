// Package drift compares what runs on a node with what the spec wants, by
// meaning: the output of iptables-save, ip6tables-save and `ipset save` (or
// of `nft list ruleset`) is parsed and normalised, and so is what rampart
// renders for the node's role, with the same parsers, so that the textual
// differences the kernel introduces (module order, /32 suffixes, icmp type
// numbers, comment quoting, set member order, merged intervals) are not
// drift, and every difference of meaning is.
//
// Only rampart's own chains, sets and table are compared, with the jumps
// into them from the built-in chains (missing, or not first in their
// chain); other owners' chains are ignored, except a rule of theirs placed
// before rampart's jump that accepts what rampart would drop.
package drift

import (
	"bufio"
	"fmt"
	"io"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/rampart-cluster/rampart/generator/policy/ranges"
)

// IPTables is one family's state as iptables-save prints it (or as an
// iptables-restore file declares it): the tables rampart has chains in,
// filter, mangle and raw (Tables read). Other tables (nat, security) are
// skipped.
type IPTables struct {
	Tables map[string]*Table // filter, mangle and raw, keyed by name; a table the input lacks is absent
	Name   string            // the input's name, as given to ParseIPTables
}

// Tables lists the tables ParseIPTables reads, in the order drift reports
// on them.
var Tables = []string{"filter", "mangle", "raw"}

// Table is one table of one family.
type Table struct {
	Name   string            // filter, mangle or raw
	Chains map[string]*Chain // built-in and user chains, keyed by name
	Order  []string          // chains in the order they were declared
}

// Table returns a table by name; one the input did not print (a fresh node,
// a table nothing ever used) is returned empty.
func (t *IPTables) Table(name string) *Table {
	if tab := t.Tables[name]; tab != nil {
		return tab
	}
	return &Table{Name: name, Chains: map[string]*Chain{}}
}

// Chain is one chain of a table.
type Chain struct {
	Name     string  // e.g. INPUT, RAMPART-INPUT
	Policy   string  // ACCEPT, DROP for built-in chains; "-" for user chains
	Declared bool    // declared with ":NAME ..." (or created by a rule's -N)
	Rules    []*Rule // in chain order, -I insertions placed where they land
}

// Rule is one parsed rule: its matches normalised so that two rules that
// mean the same compare equal, whichever way they were written.
type Rule struct {
	Chain   string         // the chain the rule is appended to or inserted into
	Line    string         // as written
	LineNo  int            // 1-based line of Line in the input
	Comment string         // the -m comment text; not part of the meaning
	Proto   string         // normalised: tcp, udp, icmp, ipv6-icmp, all, or a number
	Src     []netip.Prefix // -s prefixes, masked and sorted; nil without -s
	SrcNeg  bool           // -s was negated with !
	Dst     []netip.Prefix // -d prefixes, masked and sorted; nil without -d
	DstNeg  bool           // -d was negated with !
	In, Out string         // interfaces, "!" prefixed when negated
	Matches []Match        // -m modules as written, the comment match taken out; a protocol's options without -m form a match named after it
	Target  string         // the -j or -g target: a chain or ACCEPT, DROP, LOG, ...; "" when none
	// TargetOpts are the target's options, normalised (--reject-with,
	// --log-prefix, ...).
	TargetOpts []string
	Goto       bool // -g instead of -j
	key        string
}

// Match is one -m module with its options.
type Match struct {
	Module string // e.g. conntrack, set, tcp
	Opts   []Opt  // in written order, values normalised
}

// Opt is one option of a match, possibly negated.
type Opt struct {
	Name   string   // --dport
	Neg    bool     // preceded by !
	Values []string // the words after the name, normalised (port ranges a:b, ICMP types as numbers, ...); nil for a flag
}

// Key is the rule's meaning as one string: equal keys, equal rules.
func (r *Rule) Key() string { return r.key }

// ParseError says where an input could not be read.
type ParseError struct {
	Source string // the input's name
	Line   int    // 1-based line number in the input
	Msg    string // what is wrong, without the place
}

// Error renders the place and the problem: "name:line: what".
func (e *ParseError) Error() string {
	return fmt.Sprintf("%s:%d: %s", e.Source, e.Line, e.Msg)
}

// maxLine bounds a line of any input: a longer one is an error, not a hang.
const maxLine = 1 << 20

// lines reads an input line by line, with its line numbers.
func lines(r io.Reader, name string, fn func(no int, line string) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), maxLine)
	no := 0
	for sc.Scan() {
		no++
		if err := fn(no, sc.Text()); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return &ParseError{Source: name, Line: no + 1, Msg: err.Error()}
	}
	return nil
}

// ParseIPTables reads the filter, mangle and raw tables of iptables-save (or
// ip6tables-save) output, or of an iptables-restore file. Other tables are
// skipped. Input without them (empty or comments only, as iptables-save
// prints on a node where nothing was ever loaded) is an empty ruleset:
// everything rampart wants is then missing, which is drift, not a reading
// error.
func ParseIPTables(r io.Reader, name string) (*IPTables, error) {
	t := &IPTables{Tables: map[string]*Table{}, Name: name}
	table := ""
	var cur *Table
	err := lines(r, name, func(no int, line string) error {
		bad := func(format string, args ...any) error {
			return &ParseError{Source: name, Line: no, Msg: fmt.Sprintf(format, args...)}
		}
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			return nil
		}
		switch {
		case strings.HasPrefix(line, "*"):
			table, cur = line[1:], nil
			if slices.Contains(Tables, table) {
				cur = t.Tables[table]
				if cur == nil {
					cur = &Table{Name: table, Chains: map[string]*Chain{}}
					t.Tables[table] = cur
				}
			}
			return nil
		case line == "COMMIT":
			table, cur = "", nil
			return nil
		}
		if table == "" {
			return bad("%q outside a table (*filter ... COMMIT)", short(line))
		}
		if cur == nil {
			return nil
		}
		if strings.HasPrefix(line, ":") {
			f := strings.Fields(line[1:])
			if len(f) < 2 {
				return bad("chain declaration %q: want :NAME POLICY [packets:bytes]", short(line))
			}
			c := cur.chain(f[0])
			c.Policy, c.Declared = f[1], true
			return nil
		}
		toks, err := tokenize(line)
		if err != nil {
			return bad("%v", err)
		}
		if len(toks) > 0 && strings.HasPrefix(toks[0], "[") { // iptables-save -c counters
			toks = toks[1:]
		}
		if len(toks) < 2 {
			return bad("%q is not a rule", short(line))
		}
		switch toks[0] {
		case "-A", "--append":
		case "-N", "--new-chain":
			cur.chain(toks[1]).Declared = true
			return nil
		case "-I", "--insert":
			// -I CHAIN [N] rule: iptables-save never prints it; restore files may
			at, rest := position(toks[2:])
			rule, err := parseRule(toks[1], rest)
			if err != nil {
				return bad("%v", err)
			}
			rule.Line, rule.LineNo = line, no
			c := cur.chain(toks[1])
			c.Rules = slices.Insert(c.Rules, min(at, len(c.Rules)), rule)
			return nil
		default:
			return bad("%q: want -A CHAIN ... (or :CHAIN, *table, COMMIT)", short(line))
		}
		rule, err := parseRule(toks[1], toks[2:])
		if err != nil {
			return bad("%v", err)
		}
		rule.Line, rule.LineNo = line, no
		c := cur.chain(toks[1])
		c.Rules = append(c.Rules, rule)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

// position reads the rule number of -I CHAIN [N] (1 when absent) as an
// index, and returns the rest of the rule.
func position(toks []string) (int, []string) {
	if len(toks) > 0 {
		if n, ok := ranges.ParsePort(toks[0]); ok && n > 0 {
			return int(n) - 1, toks[1:]
		}
	}
	return 0, toks
}

func (t *Table) chain(name string) *Chain {
	c := t.Chains[name]
	if c == nil {
		c = &Chain{Name: name, Policy: "-"}
		t.Chains[name] = c
		t.Order = append(t.Order, name)
	}
	return c
}

// short cuts a line for an error message.
func short(s string) string {
	if len(s) > 80 {
		return s[:77] + "..."
	}
	return s
}

// tokenize splits a rule line like a shell would: white space separates,
// double quotes group, a backslash escapes the next character inside quotes.
func tokenize(line string) ([]string, error) {
	var out []string
	var cur strings.Builder
	in, quoted := false, false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case quoted && c == '\\' && i+1 < len(line):
			i++
			cur.WriteByte(line[i])
		case c == '"':
			quoted = !quoted
			in = true
		case !quoted && (c == ' ' || c == '\t'):
			if in {
				out = append(out, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteByte(c)
			in = true
		}
	}
	if quoted {
		return nil, fmt.Errorf("unterminated quote in %q", short(line))
	}
	if in {
		out = append(out, cur.String())
	}
	return out, nil
}

// parseRule reads the matches and target of a rule.
func parseRule(chain string, toks []string) (*Rule, error) {
	r := &Rule{Chain: chain, Proto: "all"}
	neg := false
	var cur *Match
	take := func(i int) (string, int, error) {
		if i+1 >= len(toks) {
			return "", i, fmt.Errorf("%s needs a value", toks[i])
		}
		return toks[i+1], i + 1, nil
	}
	for i := 0; i < len(toks); i++ {
		tok := toks[i]
		if tok == "!" {
			neg = true
			continue
		}
		var err error
		var v string
		switch tok {
		case "-p", "--protocol":
			if v, i, err = take(i); err != nil {
				return nil, err
			}
			r.Proto = normProto(v)
			if neg {
				r.Proto = "!" + r.Proto
			}
			cur = nil
		case "-s", "--source", "-d", "--destination":
			if v, i, err = take(i); err != nil {
				return nil, err
			}
			ps, err := parsePrefixes(v)
			if err != nil {
				return nil, err
			}
			if tok == "-s" || tok == "--source" {
				r.Src, r.SrcNeg = ps, neg
			} else {
				r.Dst, r.DstNeg = ps, neg
			}
			cur = nil
		case "-i", "--in-interface", "-o", "--out-interface":
			if v, i, err = take(i); err != nil {
				return nil, err
			}
			if neg {
				v = "!" + v
			}
			if tok[1] == 'i' || tok == "--in-interface" {
				r.In = v
			} else {
				r.Out = v
			}
			cur = nil
		case "-m", "--match":
			if v, i, err = take(i); err != nil {
				return nil, err
			}
			r.Matches = append(r.Matches, Match{Module: v})
			cur = &r.Matches[len(r.Matches)-1]
		case "-j", "--jump", "-g", "--goto":
			if v, i, err = take(i); err != nil {
				return nil, err
			}
			r.Target, r.Goto = v, tok == "-g" || tok == "--goto"
			r.TargetOpts = targetOpts(toks[i+1:])
			i = len(toks)
		case "-f", "--fragment":
			r.Matches = append(r.Matches, Match{Module: "fragment", Opts: []Opt{{Name: "-f", Neg: neg}}})
			cur = nil
		default:
			if !strings.HasPrefix(tok, "--") {
				return nil, fmt.Errorf("unexpected %q", short(tok))
			}
			if cur == nil {
				// a protocol's own options without -m (--dport after -p tcp)
				r.Matches = append(r.Matches, Match{Module: strings.TrimPrefix(r.Proto, "!")})
				cur = &r.Matches[len(r.Matches)-1]
			}
			o := Opt{Name: tok, Neg: neg}
			for i+1 < len(toks) && !strings.HasPrefix(toks[i+1], "-") && toks[i+1] != "!" {
				i++
				o.Values = append(o.Values, toks[i])
			}
			cur.Opts = append(cur.Opts, o)
		}
		neg = false
	}
	if neg {
		return nil, fmt.Errorf("a trailing !")
	}
	r.normalise()
	return r, nil
}

// targetOpts normalises a target's options into "--name value" strings.
func targetOpts(toks []string) []string {
	var out []string
	for i := 0; i < len(toks); i++ {
		o := toks[i]
		if i+1 < len(toks) && !strings.HasPrefix(toks[i+1], "--") {
			i++
			o += " " + toks[i]
		}
		out = append(out, o)
	}
	slices.Sort(out)
	return out
}

func parsePrefixes(v string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range strings.Split(v, ",") {
		p, err := parsePrefix(s)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	slices.SortFunc(out, ranges.ComparePrefixes)
	return out, nil
}

// parsePrefix reads an address (a host prefix) or a prefix, masked; a
// dotted netmask (10.0.0.0/255.0.0.0) is read too.
func parsePrefix(s string) (netip.Prefix, error) {
	if addr, mask, ok := strings.Cut(s, "/"); ok {
		if m, err := netip.ParseAddr(mask); err == nil && m.Is4() {
			a, err := netip.ParseAddr(addr)
			if err != nil {
				return netip.Prefix{}, fmt.Errorf("bad address %q", short(s))
			}
			bits, ok := maskBits(m)
			if !ok {
				return netip.Prefix{}, fmt.Errorf("non-contiguous netmask %q", short(s))
			}
			return netip.PrefixFrom(a, bits).Masked(), nil
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("bad prefix %q", short(s))
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("bad address %q", short(s))
	}
	return ranges.Host(a), nil
}

func maskBits(m netip.Addr) (int, bool) {
	b := m.As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	n := 0
	for v&0x80000000 != 0 {
		n++
		v <<= 1
	}
	return n, v == 0
}

// normProto names a protocol the way iptables-save prints it.
func normProto(p string) string {
	p = strings.ToLower(p)
	switch p {
	case "6":
		return "tcp"
	case "17":
		return "udp"
	case "1":
		return "icmp"
	case "58", "icmpv6", "ipv6-icmp":
		return "ipv6-icmp"
	case "0":
		return "all"
	case "132":
		return "sctp"
	}
	return protoNumber(p)
}

// icmpTypes and icmp6Types map the names iptables accepts to the numbers
// iptables-save prints (codes, where a name implies one, as type/code).
var icmpTypes = map[string]string{
	"echo-reply": "0", "destination-unreachable": "3", "source-quench": "4", "redirect": "5",
	"echo-request": "8", "router-advertisement": "9", "router-solicitation": "10",
	"time-exceeded": "11", "parameter-problem": "12", "timestamp-request": "13",
	"timestamp-reply": "14", "address-mask-request": "17", "address-mask-reply": "18",
	"network-unreachable": "3/0", "host-unreachable": "3/1", "protocol-unreachable": "3/2",
	"port-unreachable": "3/3", "fragmentation-needed": "3/4", "ttl-zero-during-transit": "11/0",
	"ttl-zero-during-reassembly": "11/1", "any": "any",
}

var icmp6Types = map[string]string{
	"destination-unreachable": "1", "packet-too-big": "2", "time-exceeded": "3", "ttl-exceeded": "3",
	"parameter-problem": "4", "echo-request": "128", "echo-reply": "129",
	"router-solicitation": "133", "router-advertisement": "134", "neighbour-solicitation": "135",
	"neighbor-solicitation": "135", "neighbour-advertisement": "136", "neighbor-advertisement": "136",
	"redirect": "137", "no-route": "1/0", "communication-prohibited": "1/1", "address-unreachable": "1/3",
	"port-unreachable": "1/4",
}

var protoNumbers = map[string]string{"tcp": "6", "udp": "17", "icmp": "1", "ipv6-icmp": "58", "icmpv6": "58", "sctp": "132"}

// normValue normalises one option's values.
func normValue(module, name string, vs []string) []string {
	out := slices.Clone(vs)
	switch name {
	case "--ctstate", "--state", "--ctstatus":
		for i, v := range out {
			parts := strings.Split(strings.ToUpper(v), ",")
			slices.Sort(parts)
			out[i] = strings.Join(parts, ",")
		}
	case "--icmp-type":
		rename(out, icmpTypes)
	case "--icmpv6-type":
		rename(out, icmp6Types)
	case "--ctproto":
		rename(out, protoNumbers)
	case "--limit":
		for i, v := range out {
			out[i] = normRate(v)
		}
	case "--mark":
		for i, v := range out {
			out[i] = normMark(v)
		}
	case "--dport", "--sport", "--dports", "--sports", "--ctorigdstport", "--ctorigsrcport", "--ctrepldstport", "--ctreplsrcport":
		for i, v := range out {
			out[i] = strings.ReplaceAll(v, "-", ":")
		}
	}
	return out
}

// normMark writes a mark (value or value/mask, any base) the way
// iptables-save does: 0x1000000/0x1000000.
func normMark(v string) string {
	parts := strings.Split(v, "/")
	for i, p := range parts {
		n, err := strconv.ParseUint(p, 0, 32)
		if err != nil {
			return v
		}
		parts[i] = fmt.Sprintf("%#x", n)
	}
	return strings.Join(parts, "/")
}

// rename replaces the names a table knows by what it maps them to.
func rename(vs []string, names map[string]string) {
	for i, v := range vs {
		if n, ok := names[strings.ToLower(v)]; ok {
			vs[i] = n
		}
	}
}

// normRate writes a rate the way iptables-save does: 10/min.
func normRate(v string) string {
	n, unit, ok := strings.Cut(v, "/")
	if !ok {
		return v
	}
	switch {
	case strings.HasPrefix("second", unit) && unit != "":
		unit = "sec"
	case strings.HasPrefix("minute", unit) && unit != "":
		unit = "min"
	case strings.HasPrefix("hour", unit) && unit != "":
		unit = "hour"
	case strings.HasPrefix("day", unit) && unit != "":
		unit = "day"
	}
	return n + "/" + unit
}

// defaultOpts are options iptables-save adds with their default values;
// dropping them makes a rule written without them equal.
var defaultOpts = map[string]string{"--limit-burst": "5"}

// normalise computes the rule's key: modules and their options sorted,
// values normalised, the comment set aside.
func (r *Rule) normalise() {
	var ms []string
	var kept []Match
	for _, m := range r.Matches {
		if m.Module == "comment" {
			for _, o := range m.Opts {
				if o.Name == "--comment" {
					r.Comment = strings.Join(o.Values, " ")
				}
			}
			continue
		}
		var opts []string
		for i := range m.Opts {
			o := &m.Opts[i]
			o.Values = normValue(m.Module, o.Name, o.Values)
			if d, ok := defaultOpts[o.Name]; ok && len(o.Values) == 1 && o.Values[0] == d && !o.Neg {
				continue
			}
			s := o.Name + " " + strings.Join(o.Values, " ")
			if o.Neg {
				s = "! " + s
			}
			opts = append(opts, s)
		}
		slices.Sort(opts)
		mod := m.Module
		if mod == "ipv6-icmp" {
			mod = "icmp6"
		}
		ms = append(ms, mod+"["+strings.Join(opts, "; ")+"]")
		kept = append(kept, m)
	}
	r.Matches = kept
	slices.Sort(ms)
	var tos []string
	for _, o := range r.TargetOpts {
		name, v, _ := strings.Cut(o, " ")
		switch name {
		case "--log-prefix":
			// iptables-save prints the prefix as given; quoting is gone already
		case "--reject-with":
			v = strings.TrimSuffix(v, "-reject") // icmp-port-unreachable alias
		case "--set-xmark", "--set-mark", "--or-mark", "--and-mark", "--xor-mark":
			v = normMark(v)
		}
		tos = append(tos, strings.TrimSpace(name+" "+v))
	}
	r.TargetOpts = tos
	jump := "-j "
	if r.Goto {
		jump = "-g "
	}
	r.key = strings.Join([]string{
		"p=" + r.Proto,
		"s=" + neg(r.SrcNeg) + prefixesText(r.Src),
		"d=" + neg(r.DstNeg) + prefixesText(r.Dst),
		"i=" + r.In, "o=" + r.Out,
		"m=" + strings.Join(ms, " "),
		jump + r.Target + " " + strings.Join(tos, " "),
	}, " | ")
}

func neg(b bool) string {
	if b {
		return "!"
	}
	return ""
}

func prefixesText(ps []netip.Prefix) string {
	parts := make([]string, len(ps))
	for i, p := range ps {
		parts[i] = p.String()
	}
	return strings.Join(parts, ",")
}

// commentMatch is a rule's comment as iptables-save (or rampart) writes it.
var commentMatch = regexp.MustCompile(`\s*-m comment --comment ("(?:[^"\\]|\\.)*"|\S+)`)

// Text is the rule as written, without its comment (which a report shows
// apart).
func (r *Rule) Text() string { return commentMatch.ReplaceAllString(r.Line, "") }
