package policy

import (
	"fmt"
	"net/netip"

	"github.com/rampart-cluster/rampart/generator/spec"
)

// Query is a new connection to ask the policy about.
type Query struct {
	From  netip.Addr    // source address; an IPv4-mapped IPv6 address counts as IPv4
	Role  string        // the destination node's role
	Proto spec.Protocol // tcp, udp, or icmp (an echo request)
	Port  uint16        // ignored for icmp
}

// Decision is the policy's answer: the verdict and the rule that decides it.
type Decision struct {
	Verdict Verdict    // Accept, Drop or Reject
	Rule    *Rule      // nil when no rule matches and the default decides
	Prov    Provenance // the deciding rule's provenance, or the default's (firewall.action)
}

// Explain evaluates the IR, not a kernel: the first rule guarding the role
// that matches the connection decides it; when none does, the default
// (firewall.action) does.
func (p *Policy) Explain(q Query) Decision {
	from := q.From.Unmap()
	for i := range p.Rules {
		r := &p.Rules[i]
		if r.AppliesTo(q.Role) && p.sourceMatches(r.From, from) && r.matchesPort(q.Proto, q.Port) {
			return Decision{Verdict: r.Verdict, Rule: r, Prov: r.Prov}
		}
	}
	return Decision{Verdict: p.Default, Prov: p.DefaultProv}
}

func (p *Policy) sourceMatches(s Source, a netip.Addr) bool {
	switch s.Kind {
	case SetSource:
		set := p.Set(s.Set)
		if set == nil {
			return false
		}
		for _, m := range set.Members[familyOfAddr(a)] {
			if m.Contains(a) {
				return true
			}
		}
		return false
	case CIDRSource:
		return s.CIDR.Contains(a)
	}
	return true
}

func familyOfAddr(a netip.Addr) Family {
	if a.Is4() {
		return V4
	}
	return V6
}

func (r *Rule) matchesPort(proto spec.Protocol, port uint16) bool {
	if r.Proto == "" {
		return true
	}
	if r.Proto != proto {
		return false
	}
	if proto == spec.ICMP || len(r.Ports) == 0 {
		return true
	}
	for _, pr := range r.Ports {
		if port >= pr.From && port <= pr.To {
			return true
		}
	}
	return false
}

// String renders a decision for people: "ACCEPT by: what (origin, file:line)".
func (d Decision) String() string {
	if d.Rule == nil {
		return fmt.Sprintf("%s: no rule accepts it (%s)", d.Verdict, d.Prov)
	}
	return fmt.Sprintf("%s by rule: %s", d.Verdict, d.Prov)
}
