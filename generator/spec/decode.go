package spec

import (
	"fmt"
	"net/netip"
	"os"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// maxNodes bounds how many YAML values a spec may expand to, aliases included,
// so that an alias bomb is an error and not an out-of-memory kill.
const maxNodes = 2_000_000

// LoadFile reads and validates the spec at path.
func LoadFile(path string) (*Spec, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// Parse decodes, defaults and validates a spec. The error, when not nil, is
// an Errors value listing every problem of the file in order.
func Parse(file string, data []byte) (*Spec, error) {
	d := &decoder{file: file, nodeRoles: map[*Node]*yaml.Node{}, ruleEnds: map[*Rule][2]*yaml.Node{}}
	s := d.decode(data)
	if len(d.errs) > 0 {
		return nil, d.errs.sorted()
	}
	return s, nil
}

type decoder struct {
	file    string
	errs    Errors
	visited int

	// where names that refer to other parts were written, for cross-checks
	nodeRoles map[*Node]*yaml.Node
	ruleEnds  map[*Rule][2]*yaml.Node // from, to
	allowEnds [][2]*yaml.Node         // from, to of overlays.allow[i]
}

func (d *decoder) pos(n *yaml.Node) Pos {
	if n == nil {
		return Pos{File: d.file, Line: 1, Col: 1}
	}
	return Pos{File: d.file, Line: n.Line, Col: n.Column}
}

func (d *decoder) errorf(n *yaml.Node, path, format string, args ...any) {
	d.errs = append(d.errs, &Error{Pos: d.pos(n), Path: path, Msg: fmt.Sprintf(format, args...)})
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

func (d *decoder) decode(data []byte) *Spec {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		msg := err.Error()
		line := 1
		if m := yamlLine.FindStringSubmatch(msg); m != nil {
			line, _ = strconv.Atoi(m[1])
			msg = m[2]
		} else {
			msg = strings.TrimPrefix(msg, "yaml: ")
		}
		d.errs = append(d.errs, &Error{Pos: Pos{File: d.file, Line: line, Col: 1}, Msg: "not valid YAML: " + msg})
		return nil
	}
	if len(doc.Content) == 0 {
		d.errorf(nil, "", "the spec is empty: it needs at least version, cluster and roles")
		return nil
	}
	root := d.resolve(doc.Content[0])
	if root.Kind != yaml.MappingNode {
		d.errorf(root, "", "the spec must be a mapping of keys (version, cluster, roles, ...), not %s", kindName(root))
		return nil
	}
	r := &raw{}
	d.top(root, r)
	if len(d.errs) > 0 && r.version == nil {
		return nil
	}
	return d.build(root, r)
}

// resolve follows aliases and counts the values visited.
func (d *decoder) resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	d.visited++
	return n
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
func (d *decoder) mapping(n *yaml.Node, path string, fields ...field) {
	n = d.resolve(n)
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "must be a mapping, not %s", kindName(n))
		return
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := d.resolve(n.Content[i]), n.Content[i+1]
		if d.visited > maxNodes {
			d.errorf(k, path, "the spec expands to more than %d values (aliases?)", maxNodes)
			return
		}
		if k.Kind != yaml.ScalarNode {
			d.errorf(k, path, "keys must be plain words, not %s", kindName(k))
			continue
		}
		if line, ok := seen[k.Value]; ok {
			d.errorf(k, join(path, k.Value), "key %q is given twice (first at line %d)", k.Value, line)
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
			d.errorf(k, path, "unknown key %q (expected one of: %s)", k.Value, strings.Join(names, ", "))
		}
	}
}

// pairs walks a mapping whose keys are names chosen by the user.
func (d *decoder) pairs(n *yaml.Node, path string, fn func(key, val *yaml.Node)) {
	n = d.resolve(n)
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "must be a mapping of names, not %s", kindName(n))
		return
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := d.resolve(n.Content[i]), d.resolve(n.Content[i+1])
		if d.visited > maxNodes {
			d.errorf(k, path, "the spec expands to more than %d values (aliases?)", maxNodes)
			return
		}
		if k.Kind != yaml.ScalarNode {
			d.errorf(k, path, "names must be plain words, not %s", kindName(k))
			continue
		}
		if line, ok := seen[k.Value]; ok {
			d.errorf(k, join(path, k.Value), "%q is defined twice (first at line %d)", k.Value, line)
			continue
		}
		seen[k.Value] = k.Line
		fn(k, v)
	}
}

// list walks a sequence.
func (d *decoder) list(n *yaml.Node, path string, fn func(i int, item *yaml.Node)) {
	n = d.resolve(n)
	if isNull(n) {
		return
	}
	if n.Kind != yaml.SequenceNode {
		d.errorf(n, path, "must be a list, not %s", kindName(n))
		return
	}
	for i, item := range n.Content {
		if d.visited > maxNodes {
			d.errorf(item, path, "the spec expands to more than %d values (aliases?)", maxNodes)
			return
		}
		fn(i, d.resolve(item))
	}
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

// str decodes a string scalar.
func (d *decoder) str(n *yaml.Node, path string) (string, bool) {
	if n.Kind != yaml.ScalarNode || isNull(n) {
		d.errorf(n, path, "must be a string, not %s", kindName(n))
		return "", false
	}
	return n.Value, true
}

// integer decodes an integer scalar within [lo, hi].
func (d *decoder) integer(n *yaml.Node, path string, lo, hi int) (int, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
		d.errorf(n, path, "must be a whole number, not %s", kindName(n))
		return 0, false
	}
	v, err := strconv.Atoi(n.Value)
	if err != nil || v < lo || v > hi {
		d.errorf(n, path, "%s is out of range (%d-%d)", n.Value, lo, hi)
		return 0, false
	}
	return v, true
}

// boolean decodes true or false.
func (d *decoder) boolean(n *yaml.Node, path string) (bool, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
		d.errorf(n, path, "must be true or false, not %s", kindName(n))
		return false, false
	}
	return n.Value == "true" || n.Value == "True" || n.Value == "TRUE", true
}

// oneOf decodes a string that must be one of the choices.
func (d *decoder) oneOf(n *yaml.Node, path string, choices ...string) (string, bool) {
	s, ok := d.str(n, path)
	if !ok {
		return "", false
	}
	for _, c := range choices {
		if s == c {
			return s, true
		}
	}
	d.errorf(n, path, "%q is not one of: %s", s, strings.Join(choices, ", "))
	return "", false
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func index(path string, i int) string {
	return fmt.Sprintf("%s[%d]", path, i)
}

// address decodes an IP address, IPv4 or IPv6, with no zone.
func (d *decoder) address(n *yaml.Node, path string) (netip.Addr, bool) {
	s, ok := d.str(n, path)
	if !ok {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		if _, perr := netip.ParsePrefix(s); perr == nil {
			d.errorf(n, path, "%q is a range; a node's addresses are single addresses (use pools for ranges)", s)
		} else {
			d.errorf(n, path, "%q is not an IP address", s)
		}
		return netip.Addr{}, false
	}
	if a.Zone() != "" {
		d.errorf(n, path, "%q has an interface zone; write the address without %%%s", s, a.Zone())
		return netip.Addr{}, false
	}
	if a.Is4In6() {
		d.errorf(n, path, "%q is an IPv4-mapped IPv6 address; write it as %s", s, a.Unmap())
		return netip.Addr{}, false
	}
	if a.IsUnspecified() || a.IsMulticast() {
		d.errorf(n, path, "%q cannot be a node's address", s)
		return netip.Addr{}, false
	}
	return a, true
}

// prefix decodes an address or a CIDR; an address becomes a /32 or /128.
func (d *decoder) prefix(n *yaml.Node, path string, allowAddr bool) (netip.Prefix, bool) {
	s, ok := d.str(n, path)
	if !ok {
		return netip.Prefix{}, false
	}
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			d.errorf(n, path, "%q is not an IP address or CIDR", s)
			return netip.Prefix{}, false
		}
		if !allowAddr {
			d.errorf(n, path, "%q is an address; a CIDR such as %s is expected", s, netip.PrefixFrom(a, a.BitLen()))
			return netip.Prefix{}, false
		}
		if a.Is4In6() {
			d.errorf(n, path, "%q is an IPv4-mapped IPv6 address; write it as %s", s, a.Unmap())
			return netip.Prefix{}, false
		}
		return netip.PrefixFrom(a, a.BitLen()), true
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		d.errorf(n, path, "%q is not a CIDR", s)
		return netip.Prefix{}, false
	}
	if p.Addr().Is4In6() {
		d.errorf(n, path, "%q is an IPv4-mapped IPv6 range; write it in IPv4", s)
		return netip.Prefix{}, false
	}
	if p.Masked() != p {
		d.errorf(n, path, "%q has host bits set; did you mean %s?", s, p.Masked())
		return netip.Prefix{}, false
	}
	return p, true
}

// ports decodes a port list such as [80/tcp, 10000-10100/tcp, icmp].
func (d *decoder) ports(n *yaml.Node, path string) []Port {
	var out []Port
	seen := map[string]int{}
	d.list(n, path, func(i int, item *yaml.Node) {
		p, ok := d.port(item, index(path, i))
		if !ok {
			return
		}
		if line, dup := seen[p.String()]; dup {
			d.errorf(item, index(path, i), "%s is listed twice (first at line %d)", p, line)
			return
		}
		seen[p.String()] = item.Line
		out = append(out, p)
	})
	return out
}

// port decodes one port entry.
func (d *decoder) port(n *yaml.Node, path string) (Port, bool) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!int" {
		d.errorf(n, path, "port %s needs a protocol: write %s/tcp or %s/udp", n.Value, n.Value, n.Value)
		return Port{}, false
	}
	s, ok := d.str(n, path)
	if !ok {
		return Port{}, false
	}
	pos := d.pos(n)
	if s == "icmp" {
		return Port{Proto: ICMP, Pos: pos}, true
	}
	num, proto, found := strings.Cut(s, "/")
	if !found {
		d.errorf(n, path, "%q is not a port: write PORT/PROTO or FROM-TO/PROTO (80/tcp, 10000-10100/udp) or icmp", s)
		return Port{}, false
	}
	switch Protocol(proto) {
	case TCP, UDP:
	case ICMP:
		d.errorf(n, path, "ICMP has no ports: write icmp instead of %q", s)
		return Port{}, false
	default:
		d.errorf(n, path, "protocol %q in %q is not tcp or udp", proto, s)
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
			d.errorf(n, path, "range %q runs backwards; write %d-%d/%s", s, to, from, proto)
			return Port{}, false
		}
	}
	return Port{Proto: Protocol(proto), From: from, To: to, Pos: pos}, true
}

func (d *decoder) portNumber(n *yaml.Node, path, num, whole string) (uint16, bool) {
	v, err := strconv.Atoi(num)
	if err != nil {
		d.errorf(n, path, "%q in %q is not a port number", num, whole)
		return 0, false
	}
	if v < 1 || v > 65535 {
		d.errorf(n, path, "port %d in %q is out of range (1-65535)", v, whole)
		return 0, false
	}
	return uint16(v), true
}
