package trace

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/rampart-cluster/rampart/generator/drift"
	"github.com/rampart-cluster/rampart/generator/firewall"
	"github.com/rampart-cluster/rampart/generator/policy"
)

// IPTablesFamily is one family's iptables rules: an iptables-restore file
// or iptables-save listing, parsed by drift.ParseIPTables, and the name
// places in it are given under (iptables.v4, iptables-save).
type IPTablesFamily struct {
	Name  string
	Rules *drift.IPTables
}

// inputTables are the tables with a chain on the input hook that drift
// reads, in the order the kernel runs them (mangle at priority -150, filter
// at 0).
var inputTables = []string{firewall.TableMangle, firewall.TableFilter}

// NewIPTables reads the input path of each family given, with the sets of
// the ipset listings (every family's: the kernel has one namespace of sets).
//
// A table whose INPUT chain the input does not declare (a restore file
// rampart renders never does) is taken to hold what rampart's script keeps
// there: the jumps of firewall.Jumps first, then any rule the input
// appends to INPUT, under policy ACCEPT. A declared INPUT (iptables-save
// output) is followed as it is.
func NewIPTables(fams map[policy.Family]IPTablesFamily, sets ...*drift.IPSets) (*Tracer, error) {
	idx, err := setIndex(sets)
	if err != nil {
		return nil, err
	}
	t := &Tracer{backend: "iptables", progs: map[policy.Family]*program{}}
	for _, f := range policy.Families {
		fam, ok := fams[f]
		if !ok || fam.Rules == nil {
			continue
		}
		c := &iptCompiler{family: f, file: fam.Name, rules: fam.Rules, sets: idx, chains: map[string]*chain{}}
		prog, err := c.program()
		if err != nil {
			return nil, err
		}
		t.progs[f] = prog
	}
	if len(t.progs) == 0 {
		return nil, &FilesError{Msg: "no iptables rules were given"}
	}
	return t, nil
}

// iptCompiler reads one family's rules into a program.
type iptCompiler struct {
	family policy.Family
	file   string
	rules  *drift.IPTables
	sets   map[string]*drift.IPSet
	chains map[string]*chain // compiled, by table and name
}

// scriptJumps are the rules rampart's script keeps first in the built-in
// chains, as iptables lines.
func scriptJumps(table, from string) []string {
	var out []string
	// the jumps depend on the policy only for the raw table
	for _, j := range firewall.Jumps(&policy.Policy{}) {
		if j.Table == table && j.From == from {
			out = append(out, fmt.Sprintf("-A %s -j %s", j.From, j.To))
		}
	}
	return out
}

func (c *iptCompiler) program() (*program, error) {
	var bases []*chain
	for _, name := range inputTables {
		tab := c.rules.Tables[name]
		if tab == nil {
			continue
		}
		in := tab.Chains["INPUT"]
		jumps := scriptJumps(name, "INPUT")
		if in != nil && in.Declared {
			jumps = nil
		} else if len(jumps) == 0 && in == nil {
			continue // nothing on this table's input hook
		}
		b := &chain{table: name, name: "INPUT", base: true, policy: policy.Accept}
		b.policyName = fmt.Sprintf("%s INPUT policy ACCEPT", name)
		if in != nil && in.Declared {
			v, ok := iptVerdicts[in.Policy]
			if !ok || v == policy.Reject {
				return nil, &FilesError{Msg: fmt.Sprintf("%s: %s INPUT has policy %s", c.file, name, in.Policy)}
			}
			b.policy = v
			b.policyName = fmt.Sprintf("%s INPUT policy %s", name, in.Policy)
		}
		for _, line := range jumps {
			toks := strings.Fields(line)
			r := &drift.Rule{Chain: "INPUT", Line: line, Proto: "all", Target: toks[len(toks)-1]}
			cr, err := c.rule(name, r)
			if err != nil {
				return nil, err
			}
			cr.place.File, cr.place.Comment = "", "the jump rampart's script keeps first in "+name+" INPUT"
			b.rules = append(b.rules, cr)
		}
		if in != nil {
			for _, r := range in.Rules {
				cr, err := c.rule(name, r)
				if err != nil {
					return nil, err
				}
				b.rules = append(b.rules, cr)
			}
		}
		c.chains[name+" INPUT"] = b
		bases = append(bases, b)
	}
	if len(bases) == 0 {
		return nil, &FilesError{Msg: c.file + ": no filter table"}
	}
	err := link(bases, func(table, name string) (*chain, error) {
		if ch := c.chains[table+" "+name]; ch != nil {
			return ch, nil
		}
		src := c.rules.Tables[table].Chains[name]
		if src == nil || !src.Declared {
			return nil, nil
		}
		ch := &chain{table: table, name: name, base: slices.Contains(builtins[table], name)}
		c.chains[table+" "+name] = ch
		for _, r := range src.Rules {
			cr, err := c.rule(table, r)
			if err != nil {
				return nil, err
			}
			ch.rules = append(ch.rules, cr)
		}
		return ch, nil
	})
	if err != nil {
		return nil, err
	}
	return &program{bases: bases}, nil
}

// builtins are the built-in chains of the tables drift reads.
var builtins = map[string][]string{
	firewall.TableFilter: {"INPUT", "FORWARD", "OUTPUT"},
	firewall.TableMangle: {"PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"},
	firewall.TableRaw:    {"PREROUTING", "OUTPUT"},
}

var iptVerdicts = map[string]policy.Verdict{"ACCEPT": policy.Accept, "DROP": policy.Drop, "REJECT": policy.Reject}

// rule compiles one rule.
func (c *iptCompiler) rule(table string, r *drift.Rule) (*crule, error) {
	cr := &crule{place: Rule{File: c.file, Line: r.LineNo, Table: table, Chain: r.Chain, Text: r.Text(), Comment: r.Comment}}
	unsupported := func(format string, args ...any) error {
		return &UnsupportedError{Rule: cr.place, What: fmt.Sprintf(format, args...)}
	}
	add := func(cd cond) { cr.conds = append(cr.conds, cd) }
	if r.Proto != "all" {
		proto, neg := strings.CutPrefix(r.Proto, "!")
		add(negate(l4Cond(proto), neg))
	}
	if r.Src != nil {
		add(negate(addrCond(prefixesMatcher(r.Src), false), r.SrcNeg))
	}
	if r.Dst != nil {
		add(negate(addrCond(prefixesMatcher(r.Dst), true), r.DstNeg))
	}
	if r.In != "" {
		name, neg := strings.CutPrefix(r.In, "!")
		add(negate(ifaceCond(name), neg))
	}
	if r.Out != "" {
		return nil, unsupported("-o %s (the input path has no output interface)", r.Out)
	}
	for _, m := range r.Matches {
		conds, err := c.match(cr, m)
		if err != nil {
			return nil, err
		}
		cr.conds = append(cr.conds, conds...)
	}
	switch v, ok := iptVerdicts[r.Target]; {
	case ok && !r.Goto:
		cr.act = action{kind: actVerdict, verdict: v}
	case r.Target == "" && !r.Goto:
		cr.act = action{kind: actNext} // counts, decides nothing
	case (r.Target == "LOG" || r.Target == "NFLOG") && !r.Goto:
		cr.act = action{kind: actNext}
	case r.Target == "RETURN" && !r.Goto:
		cr.act = action{kind: actReturn}
	case c.rules.Tables[table].Chains[r.Target] != nil:
		cr.act = action{kind: actJump, target: r.Target}
		if r.Goto {
			cr.act.kind = actGoto
		}
	default:
		return nil, unsupported("target %s (neither a chain of table %s nor ACCEPT, DROP, REJECT, RETURN, LOG)", r.Target, table)
	}
	return cr, nil
}

// match compiles one -m module (or a protocol's options written without
// -m) into conditions.
func (c *iptCompiler) match(cr *crule, m drift.Match) ([]cond, error) {
	unsupported := func(what string) error { return &UnsupportedError{Rule: cr.place, What: what} }
	var out []cond
	for _, o := range m.Opts {
		bad := func() error {
			return unsupported(fmt.Sprintf("option %s %s of match -m %s", o.Name, strings.Join(o.Values, " "), m.Module))
		}
		var cd cond
		switch m.Module {
		case "tcp", "udp":
			var source bool
			switch o.Name {
			case "--dport", "--destination-port":
			case "--sport", "--source-port":
				source = true
			default:
				return nil, bad()
			}
			rs, ok := iptPorts(o.Values)
			if !ok {
				return nil, bad()
			}
			cd = portCond(rs, source)
			out = append(out, l4Cond(m.Module)) // -m tcp matches tcp packets only
		case "multiport":
			if len(o.Values) != 1 {
				return nil, bad()
			}
			rs, ok := iptPorts(strings.Split(strings.ReplaceAll(o.Values[0], "-", ":"), ","))
			if !ok {
				return nil, bad()
			}
			switch o.Name {
			case "--dports", "--destination-ports":
				cd = portCond(rs, false)
			case "--sports", "--source-ports":
				cd = portCond(rs, true)
			case "--ports": // either port
				cd = anyOf([]cond{portCond(rs, false), portCond(rs, true)})
			default:
				return nil, bad()
			}
		case "icmp", "icmp6", "ipv6-icmp":
			proto, opt := "icmp", "--icmp-type"
			if m.Module != "icmp" {
				proto, opt = "ipv6-icmp", "--icmpv6-type"
			}
			if o.Name != opt || len(o.Values) != 1 {
				return nil, bad()
			}
			typ, code, ok := icmpTypeCode(o.Values[0], proto == "icmp")
			if !ok {
				return nil, bad()
			}
			cd = icmpCond(proto, typ, code)
		case "conntrack", "state":
			switch o.Name {
			case "--ctstate", "--state":
				if len(o.Values) != 1 {
					return nil, bad()
				}
				states := strings.Split(o.Values[0], ",")
				for _, s := range states {
					if !knownState(s) {
						return nil, bad()
					}
				}
				cd = stateCond(states)
			case "--ctproto":
				if len(o.Values) != 1 {
					return nil, bad()
				}
				cd = l4Cond(o.Values[0])
			case "--ctorigdstport", "--ctorigsrcport":
				rs, ok := iptPorts(o.Values)
				if !ok || len(rs) != 1 {
					return nil, bad()
				}
				cd = origPortCond(rs, o.Name == "--ctorigsrcport")
			default:
				return nil, bad()
			}
			if m.Module == "state" && o.Name != "--state" || m.Module == "conntrack" && o.Name == "--state" {
				return nil, bad()
			}
		case "limit":
			// counted as matching: the packet is within the rate
			if o.Name != "--limit" && o.Name != "--limit-burst" || o.Neg {
				return nil, bad()
			}
			continue
		case "hl", "ttl":
			op, ok := strings.CutPrefix(o.Name, "--"+m.Module+"-")
			if !ok || op != "eq" && op != "lt" && op != "gt" || len(o.Values) != 1 {
				return nil, bad()
			}
			n, err := strconv.Atoi(o.Values[0])
			if err != nil || n < 0 || n > 255 {
				return nil, bad()
			}
			if m.Module == "ttl" && c.family != policy.V4 || m.Module == "hl" && c.family != policy.V6 {
				return nil, unsupported("match -m " + m.Module + " in the other family's rules")
			}
			cd = hopCond(op, n)
		case "set":
			if o.Name != "--match-set" {
				return nil, bad()
			}
			var err error
			if cd, err = c.setCond(cr, o.Values); err != nil {
				return nil, err
			}
		default:
			return nil, unsupported("match -m " + m.Module)
		}
		out = append(out, negate(cd, o.Neg))
	}
	if len(m.Opts) == 0 {
		switch m.Module {
		case "limit": // the default rate: matching
		case "tcp", "udp", "icmp":
			out = append(out, l4Cond(m.Module))
		case "icmp6", "ipv6-icmp":
			out = append(out, l4Cond("ipv6-icmp"))
		default:
			return nil, unsupported("match -m " + m.Module + " without options")
		}
	}
	return out, nil
}

// setCond compiles --match-set NAME src (or dst).
func (c *iptCompiler) setCond(cr *crule, vs []string) (cond, error) {
	if len(vs) != 2 || vs[1] != "src" && vs[1] != "dst" {
		return nil, &UnsupportedError{Rule: cr.place, What: "--match-set " + strings.Join(vs, " ") + " (one set, matched on src or dst)"}
	}
	s := c.sets[vs[0]]
	if s == nil {
		return nil, &InvalidError{Rule: cr.place, Msg: "matches set " + vs[0] + ", which no ipset file defines"}
	}
	want := "inet"
	if c.family == policy.V6 {
		want = "inet6"
	}
	if ipsetFamily(s) != want {
		return nil, &InvalidError{Rule: cr.place, Msg: fmt.Sprintf("matches set %s of family %s in %s rules", s.Name, ipsetFamily(s), c.family)}
	}
	m, what := ipsetMatcher(s)
	if what != "" {
		return nil, &UnsupportedError{Rule: cr.place, What: what}
	}
	return addrCond(m, vs[1] == "dst"), nil
}

// iptPorts reads port values as drift normalises them: 80 or 10000:10100.
func iptPorts(vs []string) ([]portRange, bool) {
	if len(vs) == 0 {
		return nil, false
	}
	var out []portRange
	for _, v := range vs {
		r, ok := parsePortRange(v, ":")
		if !ok {
			return nil, false
		}
		out = append(out, r)
	}
	return out, true
}

// icmpTypeCode reads an ICMP type as drift normalises it: a number, type/code,
// or any (IPv4); code is -1 when not given, typ -1 for any.
func icmpTypeCode(v string, v4 bool) (typ, code int, ok bool) {
	if v == "any" {
		return -1, -1, v4
	}
	t, c, hasCode := strings.Cut(v, "/")
	typ, err := strconv.Atoi(t)
	if err != nil || typ < 0 || typ > 255 {
		return 0, 0, false
	}
	code = -1
	if hasCode {
		if code, err = strconv.Atoi(c); err != nil || code < 0 || code > 255 {
			return 0, 0, false
		}
	}
	return typ, code, true
}
