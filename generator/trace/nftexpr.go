package trace

import (
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"

	"github.com/rampart-cluster/rampart/generator/drift"
	"github.com/rampart-cluster/rampart/generator/policy"
)

// The nftables rule language, as far as the tracer reads it: matches on
// the input interface, addresses (literal or a named set), the layer 4
// protocol, ports, ICMP types, conntrack state, TTL and hop limit; the
// statements limit (matching), log and counter (going on); the verdicts.

// nftTokens splits a rule into words: quoted strings whole, the braces and
// commas of anonymous sets apart.
func nftTokens(s string) ([]string, error) {
	var out []string
	for i := 0; i < len(s); {
		switch c := s[i]; {
		case c == ' ' || c == '\t':
			i++
		case c == '{' || c == '}' || c == ',':
			out = append(out, string(c))
			i++
		case c == '"':
			j := i + 1
			for j < len(s) && s[j] != '"' {
				if s[j] == '\\' {
					j++
				}
				j++
			}
			if j >= len(s) {
				return nil, fmt.Errorf("unterminated quote")
			}
			out = append(out, s[i:j+1])
			i = j + 1
		default:
			j := i
			for j < len(s) && !strings.ContainsRune(" \t{},\"", rune(s[j])) {
				j++
			}
			out = append(out, s[i:j])
			i = j
		}
	}
	return out, nil
}

// nftParser reads one rule.
type nftParser struct {
	toks  []string
	i     int
	place Rule
	tab   *drift.NFTTable
}

func (p *nftParser) peek() string {
	if p.i < len(p.toks) {
		return p.toks[p.i]
	}
	return ""
}

func (p *nftParser) next() string {
	t := p.peek()
	if p.i < len(p.toks) {
		p.i++
	}
	return t
}

func (p *nftParser) unsupported(format string, args ...any) error {
	return &UnsupportedError{Rule: p.place, What: fmt.Sprintf(format, args...)}
}

func (p *nftParser) invalid(format string, args ...any) error {
	return &InvalidError{Rule: p.place, Msg: fmt.Sprintf(format, args...)}
}

// relation reads an optional == or != and the value: one word, a comma
// list, or an anonymous set { a, b }.
func (p *nftParser) relation(what string) (neg bool, vals []string, err error) {
	switch op := p.peek(); op {
	case "==", "eq":
		p.i++
	case "!=", "ne":
		p.i++
		neg = true
	case "<", ">", "<=", ">=", "lt", "gt", "le", "ge", "&", "|", "^", "and", "or", "xor", "set":
		return false, nil, p.unsupported("%s %s", what, op)
	}
	tok := p.next()
	switch tok {
	case "":
		return false, nil, p.unsupported("%s without a value", what)
	case "{":
		for {
			t := p.next()
			if t == "}" {
				break
			}
			if t == "" {
				return false, nil, p.unsupported("%s: an unclosed {", what)
			}
			if t != "," {
				vals = append(vals, t)
			}
		}
		if len(vals) == 0 {
			return false, nil, p.unsupported("%s { }", what)
		}
		return neg, vals, nil
	}
	vals = []string{tok}
	for p.peek() == "," {
		p.i++
		vals = append(vals, p.next())
	}
	return neg, vals, nil
}

// compileNFT compiles one rule of a table's chain.
func compileNFT(place Rule, tab *drift.NFTTable) (*crule, error) {
	toks, err := nftTokens(place.Text)
	if err != nil {
		return nil, &UnsupportedError{Rule: place, What: err.Error()}
	}
	p := &nftParser{toks: toks, place: place, tab: tab}
	cr := &crule{place: place, act: action{kind: actNext}}
	add := func(cs ...cond) { cr.conds = append(cr.conds, cs...) }
	ended := false // a verdict was read: nothing may follow
	for p.i < len(p.toks) {
		tok := p.next()
		if ended {
			return nil, p.unsupported("%q after the verdict", tok)
		}
		switch tok {
		case "accept", "drop", "reject", "return", "continue", "jump", "goto":
			ended = true
		}
		switch tok {
		case "iifname", "iif":
			c, err := p.iface(tok)
			if err != nil {
				return nil, err
			}
			add(c)
		case "meta":
			key := p.next()
			switch key {
			case "iifname", "iif":
				c, err := p.iface("meta " + key)
				if err != nil {
					return nil, err
				}
				add(c)
			case "l4proto":
				c, err := p.l4("meta l4proto")
				if err != nil {
					return nil, err
				}
				add(c)
			case "nfproto":
				neg, vals, err := p.relation("meta nfproto")
				if err != nil {
					return nil, err
				}
				var cs []cond
				for _, v := range vals {
					f, ok := map[string]policy.Family{"ipv4": policy.V4, "ipv6": policy.V6}[v]
					if !ok {
						return nil, p.unsupported("meta nfproto %s", v)
					}
					cs = append(cs, familyCond(f))
				}
				add(negate(anyOf(cs), neg))
			default:
				return nil, p.unsupported("meta %s", key)
			}
		case "ip", "ip6":
			f := policy.V4
			if tok == "ip6" {
				f = policy.V6
			}
			field := p.next()
			what := tok + " " + field
			var c cond
			var err error
			switch {
			case field == "saddr" || field == "daddr":
				c, err = p.addr(what, f, field == "daddr")
			case tok == "ip" && field == "protocol", tok == "ip6" && field == "nexthdr":
				c, err = p.l4(what)
			case tok == "ip" && field == "ttl", tok == "ip6" && field == "hoplimit":
				c, err = p.hop(what)
			default:
				err = p.unsupported("%s", what)
			}
			if err != nil {
				return nil, err
			}
			add(familyCond(f), c) // in an inet table, ip and ip6 imply the family
		case "tcp", "udp":
			field := p.next()
			if field != "dport" && field != "sport" {
				return nil, p.unsupported("%s %s", tok, field)
			}
			c, err := p.ports(tok+" "+field, field == "sport", portCond)
			if err != nil {
				return nil, err
			}
			add(l4Cond(tok), c)
		case "icmp", "icmpv6":
			if field := p.next(); field != "type" {
				return nil, p.unsupported("%s %s", tok, field)
			}
			c, err := p.icmp(tok)
			if err != nil {
				return nil, err
			}
			add(c)
		case "ct":
			c, err := p.ct()
			if err != nil {
				return nil, err
			}
			add(c)
		case "limit":
			if err := p.limit(); err != nil {
				return nil, err
			}
		case "log":
			if err := p.log(); err != nil {
				return nil, err
			}
		case "counter":
			if p.peek() == "packets" {
				p.next()
				p.next()
				if p.next() != "bytes" {
					return nil, p.unsupported("counter without bytes")
				}
				p.next()
			}
		case "accept":
			cr.act = action{kind: actVerdict, verdict: policy.Accept}
		case "drop":
			cr.act = action{kind: actVerdict, verdict: policy.Drop}
		case "reject":
			cr.act = action{kind: actVerdict, verdict: policy.Reject}
			if p.peek() == "with" {
				p.i = len(p.toks) // the ICMP error or TCP reset it answers with
			}
		case "return":
			cr.act = action{kind: actReturn}
		case "continue":
			cr.act = action{kind: actNext}
		case "jump", "goto":
			name := p.next()
			if name == "" {
				return nil, p.unsupported("%s without a chain", tok)
			}
			cr.act = action{kind: actJump, target: name}
			if tok == "goto" {
				cr.act.kind = actGoto
			}
		default:
			return nil, p.unsupported("%q", tok)
		}
	}
	return cr, nil
}

// iface reads iifname [!=] "name" (a trailing * matches every name it
// starts).
func (p *nftParser) iface(what string) (cond, error) {
	neg, vals, err := p.relation(what)
	if err != nil {
		return nil, err
	}
	var cs []cond
	for _, v := range vals {
		if strings.HasPrefix(v, "@") {
			return nil, p.unsupported("%s %s (a set of interfaces)", what, v)
		}
		name, err := unquote(v)
		if err != nil {
			return nil, p.unsupported("%s %s", what, v)
		}
		cs = append(cs, ifaceCond(name))
	}
	return negate(anyOf(cs), neg), nil
}

func unquote(v string) (string, error) {
	if !strings.HasPrefix(v, `"`) {
		return v, nil
	}
	return strconv.Unquote(v)
}

// l4Names are the protocol names nft prints, as the tracer's l4Cond names
// them.
var l4Names = map[string]string{"tcp": "tcp", "udp": "udp", "icmp": "icmp", "ipv6-icmp": "ipv6-icmp", "icmpv6": "ipv6-icmp"}

// l4 reads a layer 4 protocol (name or number).
func (p *nftParser) l4(what string) (cond, error) {
	neg, vals, err := p.relation(what)
	if err != nil {
		return nil, err
	}
	var protos []string
	for _, v := range vals {
		if n, ok := l4Names[v]; ok {
			protos = append(protos, n)
			continue
		}
		if n, err := strconv.Atoi(v); err == nil && n >= 0 && n <= 255 {
			protos = append(protos, v)
			continue
		}
		return nil, p.unsupported("%s %s", what, v)
	}
	return negate(l4Cond(protos...), neg), nil
}

// addr reads addresses of a family: a named set @name, or prefixes,
// addresses and ranges from-to.
func (p *nftParser) addr(what string, f policy.Family, dst bool) (cond, error) {
	neg, vals, err := p.relation(what)
	if err != nil {
		return nil, err
	}
	if len(vals) == 1 && strings.HasPrefix(vals[0], "@") {
		m, err := p.namedSet(vals[0][1:], f)
		if err != nil {
			return nil, err
		}
		return negate(addrCond(m, dst), neg), nil
	}
	var ms []addrMatcher
	for _, v := range vals {
		m, v4, ok := parseAddrValue(v)
		if !ok {
			return nil, p.unsupported("%s %s", what, v)
		}
		if v4 != (f == policy.V4) {
			return nil, p.invalid("%s %s: an address of the other family", what, v)
		}
		ms = append(ms, m)
	}
	return negate(addrCond(func(a netip.Addr) bool {
		for _, m := range ms {
			if m(a) {
				return true
			}
		}
		return false
	}, dst), neg), nil
}

// parseAddrValue reads an address, a prefix, or a range from-to; v4 tells
// its family.
func parseAddrValue(v string) (m addrMatcher, v4, ok bool) {
	if a, b, isRange := strings.Cut(v, "-"); isRange {
		from, err1 := netip.ParseAddr(a)
		to, err2 := netip.ParseAddr(b)
		if err1 != nil || err2 != nil || from.Is4() != to.Is4() || from.Compare(to) > 0 {
			return nil, false, false
		}
		return rangesMatcher([]drift.Range{{From: from, To: to}}), from.Is4(), true
	}
	pr, err := netip.ParsePrefix(v)
	if err != nil {
		a, err := netip.ParseAddr(v)
		if err != nil {
			return nil, false, false
		}
		pr = netip.PrefixFrom(a, a.BitLen())
	}
	return prefixesMatcher([]netip.Prefix{pr.Masked()}), pr.Addr().Is4(), true
}

// namedSet reads a set of the table: addresses of the family, constant or
// interval.
func (p *nftParser) namedSet(name string, f policy.Family) (addrMatcher, error) {
	s := p.tab.Sets[name]
	if s == nil {
		return nil, p.invalid("matches set @%s, which table %s does not define", name, p.tab.Name)
	}
	typ := ""
	for _, d := range s.Decl {
		words := strings.Fields(strings.ReplaceAll(d, ",", " "))
		if len(words) == 0 {
			continue
		}
		switch words[0] {
		case "type":
			typ = strings.Join(words[1:], " ")
		case "flags":
			for _, fl := range words[1:] {
				if fl != "interval" && fl != "constant" {
					return nil, p.unsupported("set @%s with flags %s (its elements change as packets pass)", name, fl)
				}
			}
		case "auto-merge", "comment", "size", "policy":
		default:
			return nil, p.unsupported("set @%s declared %q", name, d)
		}
	}
	want := map[policy.Family]string{policy.V4: "ipv4_addr", policy.V6: "ipv6_addr"}[f]
	switch typ {
	case want:
	case "ipv4_addr", "ipv6_addr":
		return nil, p.invalid("matches set @%s of type %s with %s addresses", name, typ, f)
	default:
		return nil, p.unsupported("set @%s of type %q", name, typ)
	}
	rs, other := s.Intervals()
	if len(other) > 0 {
		return nil, p.unsupported("element %s of set @%s", other[0], name)
	}
	for _, r := range rs {
		if r.From.Is4() != (f == policy.V4) {
			return nil, p.invalid("set @%s of type %s holds %s", name, typ, r)
		}
	}
	return rangesMatcher(rs), nil
}

// ports reads port numbers and ranges from-to, into a condition made by
// mk (portCond, origPortCond).
func (p *nftParser) ports(what string, source bool, mk func([]portRange, bool) cond) (cond, error) {
	neg, vals, err := p.relation(what)
	if err != nil {
		return nil, err
	}
	var rs []portRange
	for _, v := range vals {
		r, ok := parsePortRange(v, "-")
		if !ok {
			return nil, p.unsupported("%s %s", what, v)
		}
		rs = append(rs, r)
	}
	return negate(mk(rs, source), neg), nil
}

// icmpTypes and icmpv6Types are the type names nft knows.
var (
	icmpTypes = map[string]int{
		"echo-reply": 0, "destination-unreachable": 3, "source-quench": 4, "redirect": 5, "echo-request": 8,
		"router-advertisement": 9, "router-solicitation": 10, "time-exceeded": 11, "parameter-problem": 12,
		"timestamp-request": 13, "timestamp-reply": 14, "info-request": 15, "info-reply": 16,
		"address-mask-request": 17, "address-mask-reply": 18,
	}
	icmpv6Types = map[string]int{
		"destination-unreachable": 1, "packet-too-big": 2, "time-exceeded": 3, "parameter-problem": 4,
		"echo-request": 128, "echo-reply": 129, "mld-listener-query": 130, "mld-listener-report": 131,
		"mld-listener-done": 132, "mld-listener-reduction": 132, "nd-router-solicit": 133, "nd-router-advert": 134,
		"nd-neighbor-solicit": 135, "nd-neighbor-advert": 136, "nd-redirect": 137, "router-renumbering": 138,
		"ind-neighbor-solicit": 141, "ind-neighbor-advert": 142, "mld2-listener-report": 143,
	}
)

// icmp reads icmp type X or icmpv6 type X; it implies the protocol.
func (p *nftParser) icmp(kind string) (cond, error) {
	what := kind + " type"
	neg, vals, err := p.relation(what)
	if err != nil {
		return nil, err
	}
	names, proto := icmpTypes, "icmp"
	if kind == "icmpv6" {
		names, proto = icmpv6Types, "ipv6-icmp"
	}
	var cs []cond
	for _, v := range vals {
		t, ok := names[v]
		if !ok {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || n > 255 {
				return nil, p.unsupported("%s %s", what, v)
			}
			t = n
		}
		cs = append(cs, icmpCond(proto, t, -1))
	}
	// negated, it still matches only packets of the protocol
	return allOf(l4Cond(proto), negate(anyOf(cs), neg)), nil
}

// allOf holds when every condition holds (an undecided one is needed
// only when no other fails).
func allOf(cs ...cond) cond {
	return func(pk *Packet) (bool, string) {
		need := ""
		for _, c := range cs {
			ok, n := c(pk)
			if n != "" {
				need = n
				continue
			}
			if !ok {
				return false, ""
			}
		}
		return need == "", need
	}
}

// ct reads ct state, ct status dnat|snat, and ct original proto-dst|proto-src.
func (p *nftParser) ct() (cond, error) {
	key := p.next()
	switch key {
	case "state":
		neg, vals, err := p.relation("ct state")
		if err != nil {
			return nil, err
		}
		var states []string
		for _, v := range vals {
			s := strings.ToUpper(v)
			if !knownState(s) || s == "SNAT" || s == "DNAT" {
				return nil, p.unsupported("ct state %s", v)
			}
			states = append(states, s)
		}
		return negate(stateCond(states), neg), nil
	case "status":
		neg, vals, err := p.relation("ct status")
		if err != nil {
			return nil, err
		}
		for _, v := range vals {
			if v != "dnat" && v != "snat" {
				return nil, p.unsupported("ct status %s", v)
			}
		}
		return negate(never, neg), nil // the packet is not NATed
	case "original":
		field := p.next()
		if field != "proto-dst" && field != "proto-src" {
			return nil, p.unsupported("ct original %s", field)
		}
		return p.ports("ct original "+field, field == "proto-src", origPortCond)
	}
	return nil, p.unsupported("ct %s", key)
}

// hop reads ip ttl N or ip6 hoplimit N.
func (p *nftParser) hop(what string) (cond, error) {
	neg, vals, err := p.relation(what)
	if err != nil {
		return nil, err
	}
	var cs []cond
	for _, v := range vals {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 255 {
			return nil, p.unsupported("%s %s", what, v)
		}
		cs = append(cs, hopCond("eq", n))
	}
	return negate(anyOf(cs), neg), nil
}

var rate = regexp.MustCompile(`^[0-9]+/(second|minute|hour|day|week)$`)

// limit reads limit rate N/unit [burst N packets]: counted as matching, the
// packet within the rate.
func (p *nftParser) limit() error {
	if p.next() != "rate" {
		return p.unsupported("limit without rate")
	}
	if p.peek() == "over" {
		return p.unsupported("limit rate over")
	}
	if r := p.next(); !rate.MatchString(r) {
		return p.unsupported("limit rate %s", r)
	}
	if p.peek() == "burst" {
		p.next()
		if _, err := strconv.Atoi(p.next()); err != nil {
			return p.unsupported("limit burst")
		}
		if u := p.next(); u != "packets" {
			return p.unsupported("limit burst in %s", u)
		}
	}
	return nil
}

// log reads log [prefix "..."] [level L] [group N] [snaplen N]
// [queue-threshold N]: it goes on to the next statement.
func (p *nftParser) log() error {
	for {
		switch p.peek() {
		case "prefix", "level", "group", "snaplen", "queue-threshold":
			p.next()
			if p.next() == "" {
				return p.unsupported("log option without a value")
			}
		case "flags":
			return p.unsupported("log flags")
		default:
			return nil
		}
	}
}
