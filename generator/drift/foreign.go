package drift

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/rampart-cluster/rampart/generator/policy"
	"github.com/rampart-cluster/rampart/generator/policy/ranges"
)

// cond is what a foreign rule (with the rules that lead to it) matches, as
// far as the policy can judge it; nil fields match everything.
type cond struct {
	src     []netip.Prefix
	proto   policy.Protocol // "" every protocol; tcp, udp, icmp (either family's), or another name
	ports   ranges.Ports
	icmp    string   // an ICMP type number, "" for every type
	unknown []string // matches this does not understand: the rule may match less
}

// alwaysICMP are the ICMP types rampart accepts whatever the policy says.
var alwaysICMP = map[policy.Family][]string{
	policy.V4: {"3", "11", "12"},
	policy.V6: {"1", "2", "3", "4", "130", "134", "135", "136", "143"},
}

// echo is the echo-request type of each family.
var echo = map[policy.Family]string{policy.V4: strconv.Itoa(int(policy.EchoType(policy.V4))), policy.V6: strconv.Itoa(int(policy.EchoType(policy.V6)))}

// neutral modules do not narrow what a rule matches in a way that matters
// here.
var neutral = map[string]bool{"comment": true, "limit": true, "tcp": true, "udp": true, "multiport": true, "icmp": true, "icmp6": true, "ipv6-icmp": true, "set": true, "conntrack": true, "state": true}

// maxJudgeDepth bounds how far jumps to other owners' chains are followed.
const maxJudgeDepth = 8

// judge says what a rule placed before rampart's jump accepts that rampart
// would drop for the role, or "" when nothing: rules that only accept
// replies or loopback, that do not accept, or that jump into rampart's own
// chains are harmless; jumps to other owners' chains are followed.
func judge(p *policy.Policy, role string, f policy.Family, want *Expected, live *Table, r *Rule, outer cond, depth int, seen map[string]bool) string {
	if depth > maxJudgeDepth {
		return ""
	}
	c, ok := narrow(f, want, r, outer)
	if !ok {
		return ""
	}
	switch {
	case r.Target == "ACCEPT":
		return dropped(p, role, f, c)
	case isOurs(r.Target) || live.Chains[r.Target] == nil || seen[r.Target]:
		return ""
	}
	seen[r.Target] = true
	defer delete(seen, r.Target)
	var why []string
	for _, sub := range live.Chains[r.Target].Rules {
		if sub.Target == "RETURN" && sub.key == returnKey {
			break
		}
		if isOurs(sub.Target) {
			break // rampart decides from here
		}
		if w := judge(p, role, f, want, live, sub, c, depth+1, seen); w != "" {
			why = append(why, fmt.Sprintf("through %s line %d (%s): %s", r.Target, sub.LineNo, sub.Line, w))
		}
	}
	return strings.Join(why, "; ")
}

var returnKey = func() string {
	r, _ := parseRule("X", []string{"-j", "RETURN"})
	return r.key
}()

// narrow adds a rule's matches to the outer conditions; ok is false when
// the rule can match nothing rampart would drop (loopback, replies) or
// nothing at all under the outer conditions.
func narrow(f policy.Family, want *Expected, r *Rule, outer cond) (cond, bool) {
	c := outer
	c.unknown = slices.Clone(outer.unknown)
	if r.In == "lo" {
		return c, false
	}
	if r.In != "" || r.Out != "" {
		c.unknown = append(c.unknown, "interface")
	}
	if len(r.Src) > 0 && !r.SrcNeg {
		c.src = intersectPrefixes(c.src, r.Src)
		if len(c.src) == 0 {
			return c, false
		}
	} else if r.SrcNeg {
		c.unknown = append(c.unknown, "! -s")
	}
	if len(r.Dst) > 0 || r.DstNeg {
		c.unknown = append(c.unknown, "destination")
	}
	switch proto := strings.TrimPrefix(r.Proto, "!"); {
	case strings.HasPrefix(r.Proto, "!"):
		c.unknown = append(c.unknown, "! -p")
	case proto == "all":
	default:
		if proto == "ipv6-icmp" {
			proto = "icmp"
		}
		if c.proto != "" && c.proto != policy.Protocol(proto) {
			return c, false
		}
		c.proto = policy.Protocol(proto)
	}
	for _, m := range r.Matches {
		if !neutral[m.Module] {
			c.unknown = append(c.unknown, m.Module)
		}
		for _, o := range m.Opts {
			switch o.Name {
			case "--ctstate", "--state":
				if o.Neg || len(o.Values) == 0 {
					continue
				}
				replies := true
				for _, s := range strings.Split(o.Values[0], ",") {
					if s != "ESTABLISHED" && s != "RELATED" {
						replies = false
					}
				}
				if replies {
					return c, false // rampart accepts replies too
				}
			case "--match-set":
				if len(o.Values) < 2 || o.Neg || !strings.HasPrefix(o.Values[1], "src") {
					c.unknown = append(c.unknown, "set "+strings.Join(o.Values, " "))
					continue
				}
				s := want.IPSets.Sets[o.Values[0]]
				if s == nil {
					c.unknown = append(c.unknown, "set "+o.Values[0])
					continue
				}
				var ps []netip.Prefix
				for _, mem := range s.Members {
					if mem.Prefix.IsValid() && !mem.NoMatch {
						ps = append(ps, mem.Prefix)
					}
				}
				c.src = intersectPrefixes(c.src, ps)
				if len(c.src) == 0 {
					return c, false
				}
			case "--dport", "--dports":
				if o.Neg {
					c.unknown = append(c.unknown, "! "+o.Name)
					continue
				}
				ports, ok := parsePorts(o.Values)
				if !ok {
					c.unknown = append(c.unknown, o.Name)
					continue
				}
				if c.ports != nil {
					ports = ports.Intersect(c.ports)
					if len(ports) == 0 {
						return c, false
					}
				}
				c.ports = ports
			case "--icmp-type", "--icmpv6-type":
				if o.Neg || len(o.Values) == 0 {
					continue
				}
				t, _, _ := strings.Cut(o.Values[0], "/")
				if slices.Contains(alwaysICMP[f], t) {
					return c, false
				}
				c.icmp = t
			}
		}
	}
	return c, true
}

// intersectPrefixes keeps the parts of b inside a (a nil a is everything).
func intersectPrefixes(a, b []netip.Prefix) []netip.Prefix {
	if a == nil {
		return slices.Clone(b)
	}
	return ranges.Intersect(a, b)
}

// parsePorts reads 22, 80:90 and comma lists.
func parsePorts(vs []string) (ranges.Ports, bool) {
	var rs ranges.Ports
	for _, v := range vs {
		ports, ok := ranges.ParseList(v, ":")
		if !ok {
			return nil, false
		}
		rs = rs.Union(ports)
	}
	return rs, true
}

// maxSources bounds how many source ranges of one rule are judged.
const maxSources = 256

// dropped says what new connections the conditions accept that rampart
// would drop, or "" when none.
func dropped(p *policy.Policy, role string, f policy.Family, c cond) string {
	srcs := c.src
	if srcs == nil {
		srcs = []netip.Prefix{ranges.Everything(f == policy.V6)}
	}
	var tcp, udp ranges.Ports
	icmp, other := false, false
	wantPorts := c.ports
	if wantPorts == nil {
		wantPorts = ranges.AllPorts()
	}
	known := c.proto == "" || policy.HasPorts(c.proto) || c.proto == policy.ICMP
	cls := p.Classify(f)
	for _, src := range srcs[:min(len(srcs), maxSources)] {
		if policy.FamilyOf(src) != f {
			continue
		}
		for _, a := range cls.Reach(role, src) {
			if c.proto == "" || c.proto == policy.TCP {
				tcp = tcp.Union(wantPorts.Minus(a.Open(policy.TCP)))
			}
			if c.proto == "" || c.proto == policy.UDP {
				udp = udp.Union(wantPorts.Minus(a.Open(policy.UDP)))
			}
			if (c.proto == "" || c.proto == policy.ICMP) && (c.icmp == "" || c.icmp == echo[f]) && !a.Accepts(policy.ICMP, 0) {
				icmp = true
			}
			if c.proto == policy.ICMP && c.icmp != "" && c.icmp != echo[f] {
				icmp = true // a type rampart never accepts
			}
			if (c.proto == "" || !known) && !a.Accepts(policy.Other, 0) {
				other = true
			}
		}
	}
	if !known {
		// one other protocol: what other protocols get is all that counts
		tcp, udp, icmp = nil, nil, false
	}
	var parts []string
	if len(tcp) > 0 {
		parts = append(parts, "tcp/"+tcp.Text())
	}
	if len(udp) > 0 {
		parts = append(parts, "udp/"+udp.Text())
	}
	if icmp {
		t := "icmp echo-request"
		if c.icmp != "" && c.icmp != echo[f] {
			t = "icmp type " + c.icmp
		}
		parts = append(parts, t)
	}
	if other {
		name := "other protocols"
		if c.proto != "" {
			name = string(c.proto)
		}
		parts = append(parts, name)
	}
	if len(parts) == 0 {
		return ""
	}
	from := "from anywhere"
	if c.src != nil {
		from = "from " + prefixesText(c.src[:min(len(c.src), 8)])
		if len(c.src) > 8 {
			from += fmt.Sprintf(" and %d more", len(c.src)-8)
		}
	}
	why := fmt.Sprintf("accepts new connections that rampart drops for role %s: %s %s", role, strings.Join(parts, " "), from)
	if len(c.unknown) > 0 {
		slices.Sort(c.unknown)
		why += fmt.Sprintf(" (it also matches on %s, which this does not judge: it may match less)", strings.Join(slices.Compact(c.unknown), ", "))
	}
	return why
}
