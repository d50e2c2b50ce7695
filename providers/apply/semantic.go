package apply

import (
	"bytes"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"

	"github.com/rampart-cluster/rampart/generator/audit"
	"github.com/rampart-cluster/rampart/generator/drift"
	"github.com/rampart-cluster/rampart/generator/policy"
	"github.com/rampart-cluster/rampart/generator/spec"
)

// This file is apply's one use of the generator's judgement: audit's
// lockout errors, and drift's comparison of a live ruleset with the
// spec's. Their findings are turned into apply's terms here and nowhere
// else.

// lockouts refuses a spec that audit finds locks the operators out (the
// gate validate and gen share: audit.Lockouts), before any connection.
func lockouts(s *spec.Spec) error {
	r := audit.Lockouts(policy.Compile(s))
	if r.Empty() {
		return nil
	}
	lines := make([]string, len(r.Entries))
	for i, e := range r.Entries {
		lines[i] = e.String()
	}
	return fmt.Errorf("%w:\n  %s", ErrLockout, strings.Join(lines, "\n  "))
}

// judge compares live rulesets with what the spec makes, per role; the
// expected rulesets are rendered once per role and shared by the nodes.
type judge struct {
	s   *spec.Spec
	pol *policy.Policy

	mu   sync.Mutex
	want map[string]*drift.Expected
}

func newJudge(s *spec.Spec) *judge {
	return &judge{s: s, pol: policy.Compile(s), want: map[string]*drift.Expected{}}
}

func (j *judge) expected(role string) (*drift.Expected, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if e, ok := j.want[role]; ok {
		return e, nil
	}
	e, err := drift.Expect(j.pol, role, j.s.Firewall.Backend)
	if err != nil {
		return nil, err
	}
	j.want[role] = e
	return e, nil
}

// semantic fills the plan's Ruleset and Added: the node's live ruleset
// (as read by readLive) against its role's, by meaning.
func (j *judge) semantic(n *spec.Node, l *liveState, p *plan) error {
	want, err := j.expected(n.Role)
	if err != nil {
		return err
	}
	live := &drift.Live{IPTables: map[policy.Family]*drift.IPTables{}}
	if j.s.Firewall.Backend == "nftables" {
		if live.NFT, err = drift.ParseNFT(bytes.NewReader(l.Rulesets["nft list ruleset"]), "nft list ruleset"); err != nil {
			return err
		}
	} else {
		for cmd, f := range map[string]policy.Family{"iptables-save": policy.V4, "ip6tables-save": policy.V6} {
			if live.IPTables[f], err = drift.ParseIPTables(bytes.NewReader(l.Rulesets[cmd]), cmd); err != nil {
				return err
			}
		}
		if live.IPSets, err = drift.ParseIPSet(bytes.NewReader(l.Rulesets["ipset save"]), "ipset save"); err != nil {
			return err
		}
	}
	findings := drift.Check(j.pol, n.Role, want, live)
	var added, removed []string
	rules := map[string][2]int{} // where → missing, extra or changed
	var wheres, other []string
	for _, f := range findings {
		switch f.Kind {
		case drift.MissingMember:
			added = append(added, f.Want)
		case drift.ExtraMember:
			removed = append(removed, f.Found)
		case drift.MissingRule, drift.ExtraRule, drift.ChangedRule:
			w := strings.TrimSpace(f.Family + " " + f.Where)
			c, seen := rules[w]
			if !seen {
				wheres = append(wheres, w)
			}
			if f.Kind == drift.ExtraRule {
				c[1]++
			} else {
				c[0]++
			}
			rules[w] = c
		default:
			other = append(other, strings.TrimSpace(f.Family+" "+f.Where)+": "+f.Kind)
		}
	}
	if len(added)+len(removed) > 0 {
		slices.Sort(added)
		added = slices.Compact(added)
		slices.Sort(removed)
		removed = slices.Compact(removed)
		var b strings.Builder
		b.WriteString("members:")
		for _, a := range added {
			b.WriteString(" +" + a)
		}
		for _, a := range removed {
			b.WriteString(" -" + a)
		}
		p.Ruleset = append(p.Ruleset, b.String())
		for _, a := range added {
			if addr, ok := single(a); ok {
				p.Added = append(p.Added, addr.String())
			}
		}
	}
	for _, w := range wheres {
		c := rules[w]
		p.Ruleset = append(p.Ruleset, fmt.Sprintf("rules: %s: %d to add or change, %d to remove", w, c[0], c[1]))
	}
	slices.Sort(other)
	p.Ruleset = append(p.Ruleset, slices.Compact(other)...)
	return nil
}

// single reads a set member that is one address: "10.0.0.7",
// "10.0.0.7/32", "2001:db8::7/128".
func single(m string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(m); err == nil {
		return a, true
	}
	if p, err := netip.ParsePrefix(m); err == nil && p.IsSingleIP() {
		return p.Addr(), true
	}
	return netip.Addr{}, false
}
