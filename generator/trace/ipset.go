package trace

import (
	"net/netip"
	"strings"

	"github.com/rampart-cluster/rampart/generator/drift"
)

// setIndex gathers the sets of one or more ipset listings (ipset.v4 and
// ipset.v6 are loaded into one kernel) by name.
func setIndex(all []*drift.IPSets) (map[string]*drift.IPSet, error) {
	out := map[string]*drift.IPSet{}
	for _, sets := range all {
		if sets == nil {
			continue
		}
		for name, s := range sets.Sets {
			if out[name] != nil {
				return nil, &FilesError{Msg: "set " + name + " is defined twice"}
			}
			out[name] = s
		}
	}
	return out, nil
}

// ipsetMatcher reads an address set of type hash:ip or hash:net. In a
// hash:net set the most specific entry that holds an address decides: a
// nomatch entry is an exception to a wider one. what is "" when the set is
// read, else what the tracer does not know about it.
func ipsetMatcher(s *drift.IPSet) (m addrMatcher, what string) {
	if s.Type != "hash:ip" && s.Type != "hash:net" {
		return nil, "set type " + s.Type + " (set " + s.Name + ")"
	}
	type entry struct {
		p       netip.Prefix
		nomatch bool
	}
	var entries []entry
	for _, m := range s.Members {
		if m.Prefix.IsValid() {
			entries = append(entries, entry{m.Prefix, m.NoMatch})
			continue
		}
		// a range, from-to, as an ipset restore file may add it
		a, b, ok := strings.Cut(m.Name, "-")
		from, err1 := netip.ParseAddr(strings.TrimSpace(a))
		to, err2 := netip.ParseAddr(strings.TrimSpace(b))
		if !ok || err1 != nil || err2 != nil || from.Is4() != to.Is4() || from.Compare(to) > 0 {
			return nil, "member " + m.String() + " of set " + s.Name
		}
		for _, p := range (drift.Range{From: from, To: to}).Prefixes() {
			entries = append(entries, entry{p, m.NoMatch})
		}
	}
	return func(a netip.Addr) bool {
		best, nomatch := -1, false
		for _, e := range entries {
			if e.p.Contains(a) && e.p.Bits() > best {
				best, nomatch = e.p.Bits(), e.nomatch
			}
		}
		return best >= 0 && !nomatch
	}, ""
}

// ipsetFamily is the policy family of a set: inet is IPv4, inet6 IPv6.
func ipsetFamily(s *drift.IPSet) string {
	if s.Family == "inet6" {
		return "inet6"
	}
	return "inet"
}
