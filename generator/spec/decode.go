package spec

import (
	"bytes"
	"fmt"
	"io"
	"net/netip"
	"os"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/rampart-cluster/rampart/generator/report"
	"gopkg.in/yaml.v3"
)

// maxNodes bounds how many YAML values the decoder visits, aliases included,
// so that no file, however large, is walked without end.
const maxNodes = 2_000_000

// Aliases may repeat at most aliasBase values plus aliasFactor times the
// number of values written in the file: a few reused port or address lists
// are fine; a small file that expands a thousandfold (a "billion laughs") is
// refused before it is walked.
const (
	aliasBase   = 10_000
	aliasFactor = 10
)

// LoadFile reads and validates the spec at path.
func LoadFile(path string) (*Spec, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// Parse decodes, defaults and validates a spec. The error, when not nil, is
// a *report.Failed listing every problem of the file in order. Snippets are
// read from the file system, relative to file's directory.
func Parse(file string, data []byte) (*Spec, error) {
	return ParseWith(file, data, nil)
}

// SnippetReader reads a snippet by its path as the spec writes it
// (relative to the spec's directory, slash-separated), for a spec that is
// not a file of the file system (one at a git revision).
type SnippetReader func(path string) ([]byte, error)

// ParseWith is Parse with the snippets read by read (nil: from the file
// system, relative to file's directory).
func ParseWith(file string, data []byte, read SnippetReader) (*Spec, error) {
	d := &decoder{file: file, refs: map[any]*refs{}, readSnippet: read}
	s := d.decode(data)
	if !d.errs.Empty() {
		d.errs.Sort()
		if d.dropped != nil {
			d.errs.Append(msgStopped.At(nil, d.dropped.Pos, maxErrors))
		}
		return nil, d.errs.Err()
	}
	return s, nil
}

// maxErrors bounds how many problems one file reports, so that a list of
// thousands of aliased mistakes does not become thousands of lines (and
// megabytes) of errors.
const maxErrors = 100

type decoder struct {
	file      string
	errs      report.Report
	dropped   *report.Entry // the first problem past maxErrors, if any
	visited   int
	exhausted bool // the maxNodes or alias budget is spent: stop walking

	aliasCost   int                // values repeated by the aliases resolved so far
	aliasBudget int                // how many they may repeat
	sizes       map[*yaml.Node]int // expanded size of anchored values

	// where the parts that refer to other parts were written, for
	// cross-checks: keyed by *Node, *Pool, *Rule and *OverlayAllow
	refs      map[any]*refs
	allowRefs []*refs // refs of r.overlays.Allow[i]

	readSnippet SnippetReader // nil: snippets are files beside the spec
}

// refs remembers where a list item was and where its references were written.
type refs struct {
	path     report.Path // e.g. nodes[3]
	from, to *yaml.Node  // rule and overlay allow ends; a node's or pool's role is in to
	name     *yaml.Node
	addrs    []*yaml.Node  // a node's addresses, parallel to Node.Addresses
	addrPath []report.Path // and their paths
}

func (d *decoder) pos(n *yaml.Node) Pos {
	if n == nil {
		return Pos{File: d.file, Line: 1, Col: 1}
	}
	return Pos{File: d.file, Line: n.Line, Col: n.Column}
}

func (d *decoder) errorf(n *yaml.Node, path report.Path, m report.Message, args ...any) {
	d.add(m.At(path, d.pos(n), args...))
}

// add records a problem, up to maxErrors of them, and none after the walk
// stopped for spending its budget.
func (d *decoder) add(e report.Entry) {
	if d.exhausted {
		return // what follows the budget's end was not read whole
	}
	if len(d.errs.Entries) >= maxErrors {
		if d.dropped == nil {
			d.dropped = &e
		}
		return
	}
	d.errs.Append(e)
}

// spent reports whether the spec has expanded past maxNodes values, saying
// so (once) at n.
func (d *decoder) spent(n *yaml.Node, path report.Path) bool {
	if d.exhausted {
		return true
	}
	if d.visited <= maxNodes {
		return false
	}
	d.errorf(n, path, msgTooLarge, maxNodes)
	d.exhausted = true
	return true
}

var (
	yamlLine      = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)
	unknownAnchor = regexp.MustCompile(`^yaml: unknown anchor '(.*)' referenced$`)
)

// parserProblems are the problems the YAML library's parser (as opposed to
// its scanner) reports; it numbers their lines from 0, the scanner's from 1.
var parserProblems = map[string]bool{
	"did not find expected <stream-start>":   true,
	"did not find expected <document start>": true,
	"found undefined tag handle":             true,
	"did not find expected node content":     true,
	"did not find expected '-' indicator":    true,
	"did not find expected key":              true,
	"did not find expected ',' or ']'":       true,
	"did not find expected ',' or '}'":       true,
	"found duplicate %YAML directive":        true,
	"found incompatible YAML document":       true,
	"found duplicate %TAG directive":         true,
}

// yamlHints explain the YAML library's most frequent problems; their line
// is where the enclosing block or bracket starts.
var yamlHints = map[string]string{
	"did not find expected key":                       "is a line in this block indented wrongly?",
	"did not find expected '-' indicator":             "is an item of this list indented wrongly?",
	"did not find expected ',' or ']'":                "is a [ not closed, or a comma missing?",
	"did not find expected ',' or '}'":                "is a { not closed, or a comma missing?",
	"found a tab character that violates indentation": "indent with spaces, not tabs",
	"found character that cannot start any token":     "a tab? indent with spaces",
	"found unexpected end of stream":                  "is a quote not closed?",
}

// readerProblems are the YAML library's complaints about characters, which
// it gives without a position.
var readerProblems = map[string]bool{
	"invalid leading UTF-8 octet":        true,
	"incomplete UTF-8 octet sequence":    true,
	"invalid trailing UTF-8 octet":       true,
	"invalid length of a UTF-8 sequence": true,
	"invalid Unicode character":          true,
	"control characters are not allowed": true,
}

// badChar finds the first character of UTF-8 data that YAML does not allow,
// 1:1 if there is none (or the data is UTF-16).
func badChar(data []byte) (int, int) {
	if bytes.HasPrefix(data, []byte{0xfe, 0xff}) || bytes.HasPrefix(data, []byte{0xff, 0xfe}) {
		return 1, 1
	}
	line, col := 1, 1
	for i := 0; i < len(data); {
		c, size := utf8.DecodeRune(data[i:])
		switch {
		case c == utf8.RuneError && size <= 1:
			return line, col
		case c == '\n', c == '\r' && (i+1 == len(data) || data[i+1] != '\n'):
			line, col = line+1, 1
		case c == '\t', c == '\r', c >= 0x20 && c <= 0x7e, c == 0x85,
			c >= 0xa0 && c <= 0xd7ff, c >= 0xe000 && c <= 0xfffd, c >= 0x10000:
			col++
		default:
			return line, col
		}
		i += size
	}
	return 1, 1
}

// yamlError turns an error of the YAML parser into a positioned problem.
func (d *decoder) yamlError(data []byte, err error) {
	msg := err.Error()
	line, col := 1, 1
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
		if parserProblems[msg] {
			line++
		}
	} else if readerProblems[strings.TrimPrefix(msg, "yaml: ")] {
		msg = strings.TrimPrefix(msg, "yaml: ")
		line, col = badChar(data)
	} else if m := unknownAnchor.FindStringSubmatch(msg); m != nil {
		line, col = aliasPos(data, m[1])
		msg = fmt.Sprintf("alias *%s refers to no anchor &%s written before it", m[1], m[1])
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	if h := yamlHints[msg]; h != "" {
		msg += " (" + h + ")"
	}
	d.add(msgNotYAML.At(nil, Pos{File: d.file, Line: line, Col: col}, msg))
}

// aliasPos finds where the alias *name is first written, 1:1 if not found.
func aliasPos(data []byte, name string) (int, int) {
	text := string(data)
	for off := 0; ; {
		i := strings.Index(text[off:], "*"+name)
		if i < 0 {
			return 1, 1
		}
		i += off
		end := i + 1 + len(name)
		if end == len(text) || strings.ContainsRune(" \t\r\n,]}", rune(text[end])) {
			line := strings.Count(text[:i], "\n") + 1
			col := i - strings.LastIndex(text[:i], "\n")
			return line, col
		}
		off = i + 1
	}
}

func (d *decoder) decode(data []byte) *Spec {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil && err != io.EOF {
		d.yamlError(data, err)
		return nil
	}
	if len(doc.Content) == 0 {
		d.errorf(nil, nil, msgEmpty)
		return nil
	}
	for {
		// Another document is a mistake unless it is empty (a stray ---).
		var next yaml.Node
		err := dec.Decode(&next)
		if err == io.EOF {
			break
		}
		if err != nil {
			d.yamlError(data, err)
			return nil
		}
		if len(next.Content) > 0 && !(isNull(next.Content[0]) && next.Content[0].Value == "") {
			d.errorf(&next, nil, msgSecondDocument)
			return nil
		}
	}
	d.sizes = map[*yaml.Node]int{}
	d.aliasBudget = satAdd(aliasBase, aliasFactor*written(&doc))
	root := d.resolve(doc.Content[0])
	if root.Kind != yaml.MappingNode {
		d.errorf(root, nil, msgNotTopMapping, kindName(root))
		return nil
	}
	r := &raw{roleNames: map[string]bool{}, overlayNames: map[string]bool{}}
	d.top(root, r)
	if d.exhausted {
		return nil
	}
	return d.build(root, r)
}

// resolve follows aliases and counts the values visited; an alias costs the
// whole value it repeats.
func (d *decoder) resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		size := d.expanded(n.Alias)
		d.aliasCost = satAdd(d.aliasCost, size)
		switch {
		case d.exhausted:
		case size == loops:
			d.errorf(n, nil, msgAliasLoop, n.Value)
			d.exhausted = true
		case d.aliasCost > d.aliasBudget:
			d.errorf(n, nil, msgAliasBudget, d.aliasBudget)
			d.exhausted = true
		}
		n = n.Alias
	}
	d.visited++
	return n
}

// sizeCap is where sizes stop growing: far past every budget; loops is the
// size of a value that contains itself.
const (
	sizeCap = 1 << 50
	loops   = sizeCap + 1
)

func satAdd(a, b int) int {
	if a == loops || b == loops {
		return loops
	}
	if a+b > sizeCap {
		return sizeCap
	}
	return a + b
}

// written counts the values written in the document, aliases as one.
func written(root *yaml.Node) int {
	count, stack := 0, []*yaml.Node{root}
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		count++
		if n.Kind != yaml.AliasNode {
			stack = append(stack, n.Content...)
		}
	}
	return count
}

// expanded is how many values n stands for once every alias in it is
// replaced by what it repeats (loops for a value that contains itself).
// It walks each value once, without recursion.
func (d *decoder) expanded(root *yaml.Node) int {
	if v, ok := d.sizes[root]; ok && v >= 0 {
		return v
	} else if ok {
		return loops
	}
	const onStack = -1
	children := func(n *yaml.Node) []*yaml.Node {
		if n.Kind == yaml.AliasNode {
			return []*yaml.Node{n.Alias}
		}
		return n.Content
	}
	type frame struct {
		n    *yaml.Node
		next int
		sum  int
	}
	stack := []*frame{{n: root}}
	d.sizes[root] = onStack
	for len(stack) > 0 {
		f := stack[len(stack)-1]
		if kids := children(f.n); f.next < len(kids) {
			c := kids[f.next]
			f.next++
			switch v, ok := d.sizes[c]; {
			case !ok:
				d.sizes[c] = onStack
				stack = append(stack, &frame{n: c})
			case v == onStack:
				f.sum = loops
			default:
				f.sum = satAdd(f.sum, v)
			}
			continue
		}
		total := satAdd(f.sum, 1)
		d.sizes[f.n] = total
		stack = stack[:len(stack)-1]
		if len(stack) > 0 {
			p := stack[len(stack)-1]
			p.sum = satAdd(p.sum, total)
		}
	}
	return d.sizes[root]
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "empty"
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "something else"
}

// field is one key of a mapping with its handler.
type field struct {
	name string
	fn   func(key, val *yaml.Node)
}

// mapping walks a mapping, rejecting unknown and repeated keys.
func (d *decoder) mapping(n *yaml.Node, path report.Path, fields ...field) {
	n = d.resolve(n)
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, msgNotMapping, kindName(n))
		return
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := d.resolve(n.Content[i]), n.Content[i+1]
		if d.spent(k, path) {
			return
		}
		if k.Kind != yaml.ScalarNode {
			d.errorf(k, path, msgKeyNotWord, kindName(k))
			continue
		}
		if k.Tag == "!!merge" {
			d.errorf(k, path, msgMergeKey)
			continue
		}
		if line, ok := seen[k.Value]; ok {
			d.errorf(k, join(path, k.Value), msgKeyTwice, k.Value, line)
			continue
		}
		seen[k.Value] = k.Line
		found := false
		for _, f := range fields {
			if f.name == k.Value {
				f.fn(k, d.resolve(v))
				found = true
				break
			}
		}
		if !found {
			names := make([]string, len(fields))
			for i, f := range fields {
				names[i] = f.name
			}
			d.errorf(k, path, msgUnknownKey, k.Value, strings.Join(names, ", "))
		}
	}
}

// pairs walks a mapping whose keys are names chosen by the user.
func (d *decoder) pairs(n *yaml.Node, path report.Path, fn func(key, val *yaml.Node)) {
	n = d.resolve(n)
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, msgNotNameMapping, kindName(n))
		return
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := d.resolve(n.Content[i]), d.resolve(n.Content[i+1])
		if d.spent(k, path) {
			return
		}
		if k.Kind != yaml.ScalarNode {
			d.errorf(k, path, msgNameNotWord, kindName(k))
			continue
		}
		if line, ok := seen[k.Value]; ok {
			d.errorf(k, join(path, k.Value), msgNameTwice, k.Value, line)
			continue
		}
		seen[k.Value] = k.Line
		fn(k, v)
	}
}

// list walks a sequence.
func (d *decoder) list(n *yaml.Node, path report.Path, fn func(i int, item *yaml.Node)) {
	n = d.resolve(n)
	if isNull(n) {
		return
	}
	if n.Kind != yaml.SequenceNode {
		d.errorf(n, path, msgNotList, kindName(n))
		return
	}
	for i, item := range n.Content {
		if d.spent(item, path) {
			return
		}
		fn(i, d.resolve(item))
	}
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

// str decodes a string scalar.
func (d *decoder) str(n *yaml.Node, path report.Path) (string, bool) {
	if n.Kind != yaml.ScalarNode || isNull(n) {
		d.errorf(n, path, msgNotString, kindName(n))
		return "", false
	}
	return n.Value, true
}

// integer decodes a whole number, written as YAML writes integers.
func (d *decoder) integer(n *yaml.Node, path report.Path) (int64, bool) {
	var v int64
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" || n.Decode(&v) != nil {
		d.errorf(n, path, msgNotInteger, kindName(n))
		return 0, false
	}
	return v, true
}

// portValue decodes a whole number from 1 to 65535.
func (d *decoder) portValue(n *yaml.Node, path report.Path) (uint16, bool) {
	v, ok := d.integer(n, path)
	if !ok {
		return 0, false
	}
	if v < 1 || v > 65535 {
		d.errorf(n, path, msgPortOutOfRange, v)
		return 0, false
	}
	return uint16(v), true
}

// boolean decodes true or false.
func (d *decoder) boolean(n *yaml.Node, path report.Path) (bool, bool) {
	var v bool
	if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" || n.Decode(&v) != nil {
		d.errorf(n, path, msgNotBoolean, kindName(n))
		return false, false
	}
	return v, true
}

// oneOf decodes a string that must be one of the choices.
func (d *decoder) oneOf(n *yaml.Node, path report.Path, choices ...string) (string, bool) {
	s, ok := d.str(n, path)
	if !ok {
		return "", false
	}
	for _, c := range choices {
		if s == c {
			return s, true
		}
	}
	d.errorf(n, path, msgNotOneOf, s, strings.Join(choices, ", "))
	return "", false
}

func join(path report.Path, key string) report.Path { return path.Append(key) }

func index(path report.Path, i int) report.Path { return path.Append(i) }

// address decodes an IP address, IPv4 or IPv6, with no zone.
func (d *decoder) address(n *yaml.Node, path report.Path) (netip.Addr, bool) {
	s, ok := d.str(n, path)
	if !ok {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		if _, perr := netip.ParsePrefix(s); perr == nil {
			d.errorf(n, path, msgNodeAddressIsRange, s)
		} else {
			d.errorf(n, path, msgNotAddress, s)
		}
		return netip.Addr{}, false
	}
	if a.Zone() != "" {
		d.errorf(n, path, msgAddressZone, s, a.Zone())
		return netip.Addr{}, false
	}
	if a.Is4In6() {
		d.errorf(n, path, msgIPv4Mapped, s, a.Unmap())
		return netip.Addr{}, false
	}
	if a.IsUnspecified() || a.IsMulticast() {
		d.errorf(n, path, msgNotNodeAddress, s)
		return netip.Addr{}, false
	}
	return a, true
}

// prefix decodes an address or a CIDR; an address becomes a /32 or /128.
func (d *decoder) prefix(n *yaml.Node, path report.Path, allowAddr bool) (netip.Prefix, bool) {
	s, ok := d.str(n, path)
	if !ok {
		return netip.Prefix{}, false
	}
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			d.errorf(n, path, msgNotAddressOrCIDR, s)
			return netip.Prefix{}, false
		}
		if !allowAddr {
			d.errorf(n, path, msgAddressNotCIDR, s, netip.PrefixFrom(a, a.BitLen()))
			return netip.Prefix{}, false
		}
		if a.Is4In6() {
			d.errorf(n, path, msgIPv4Mapped, s, a.Unmap())
			return netip.Prefix{}, false
		}
		return netip.PrefixFrom(a, a.BitLen()), true
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		d.errorf(n, path, msgNotCIDR, s)
		return netip.Prefix{}, false
	}
	if p.Addr().Is4In6() {
		d.errorf(n, path, msgIPv4MappedRange, s)
		return netip.Prefix{}, false
	}
	if p.Masked() != p {
		d.errorf(n, path, msgHostBits, s, p.Masked())
		return netip.Prefix{}, false
	}
	return p, true
}

// ports decodes a port list such as [80/tcp, 10000-10100/tcp, icmp].
func (d *decoder) ports(n *yaml.Node, path report.Path) []Port {
	var out []Port
	seen := map[string]int{}
	d.list(n, path, func(i int, item *yaml.Node) {
		p, ok := d.port(item, index(path, i))
		if !ok {
			return
		}
		if line, dup := seen[p.String()]; dup {
			d.errorf(item, index(path, i), msgListedTwice, p, line)
			return
		}
		seen[p.String()] = item.Line
		out = append(out, p)
	})
	return out
}

// port decodes one port entry.
func (d *decoder) port(n *yaml.Node, path report.Path) (Port, bool) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!int" {
		d.errorf(n, path, msgPortWithoutProtocol, n.Value, n.Value, n.Value)
		return Port{}, false
	}
	s, ok := d.str(n, path)
	if !ok {
		return Port{}, false
	}
	pos := d.pos(n)
	if p, ok, problem := protocolEntry(s); ok {
		if problem != "" {
			d.errorf(n, path, msgNotProtocolNumber, s, problem)
			return Port{}, false
		}
		return Port{Proto: p, Pos: pos}, true
	}
	num, proto, found := strings.Cut(s, "/")
	if !found {
		d.errorf(n, path, msgNotPort, s)
		return Port{}, false
	}
	switch Protocol(proto) {
	case TCP, UDP, SCTP:
	case ICMP:
		d.errorf(n, path, msgICMPWithPort, s)
		return Port{}, false
	default:
		if _, named := NamedProtocols[proto]; named {
			d.errorf(n, path, msgProtocolWithPort, proto, s, proto)
			return Port{}, false
		}
		d.errorf(n, path, msgUnknownProtocol, proto, s)
		return Port{}, false
	}
	lo, hi, isRange := strings.Cut(num, "-")
	from, ok1 := d.portNumber(n, path, lo, s)
	if !ok1 {
		return Port{}, false
	}
	to := from
	if isRange {
		var ok2 bool
		if to, ok2 = d.portNumber(n, path, hi, s); !ok2 {
			return Port{}, false
		}
		if to < from {
			d.errorf(n, path, msgRangeBackwards, s, to, from, proto)
			return Port{}, false
		}
	}
	return Port{Proto: Protocol(proto), From: from, To: to, Pos: pos}, true
}

func (d *decoder) portNumber(n *yaml.Node, path report.Path, num, whole string) (uint16, bool) {
	v, err := strconv.Atoi(num)
	if err != nil {
		d.errorf(n, path, msgNotPortNumber, num, whole)
		return 0, false
	}
	if v < 1 || v > 65535 {
		d.errorf(n, path, msgPortInRangeOutOfRange, v, whole)
		return 0, false
	}
	return uint16(v), true
}
