package trace

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/rampart-cluster/rampart/generator/drift"
	"github.com/rampart-cluster/rampart/generator/policy"
)

// NewNFT reads the input path of an nftables ruleset (an nft -f file or
// `nft list ruleset` output, parsed by drift.ParseNFT), named name in
// places: for each family, every base chain of the input hook in a table of
// that family (ip, ip6 or inet), by priority.
func NewNFT(name string, n *drift.NFT) (*Tracer, error) {
	t := &Tracer{backend: "nftables", progs: map[policy.Family]*program{}}
	c := &nftCompiler{file: name, nft: n, chains: map[string]*chain{}}
	type based struct {
		c        *chain
		priority int
		fams     []policy.Family
	}
	var bases []based
	for _, key := range slices.Sorted(maps.Keys(n.Tables)) {
		tab := n.Tables[key]
		fam, _, _ := strings.Cut(key, " ")
		fams := map[string][]policy.Family{"inet": policy.Families, "ip": {policy.V4}, "ip6": {policy.V6}}[fam]
		if fams == nil {
			continue // arp, bridge, netdev: no input hook of IP packets to the node
		}
		for _, cname := range slices.Sorted(maps.Keys(tab.Chains)) {
			ch := tab.Chains[cname]
			if ch.Header == "" {
				continue
			}
			h, err := parseHeader(ch.Header)
			place := Rule{File: name, Line: ch.LineNo, Table: key, Chain: cname, Text: "chain " + cname + " { " + ch.Header + " }"}
			if err != nil {
				return nil, &UnsupportedError{Rule: place, What: err.Error()}
			}
			if h.hook != "input" {
				continue
			}
			if h.typ != "filter" {
				return nil, &UnsupportedError{Rule: place, What: "a base chain of type " + h.typ + " on the input hook"}
			}
			b, err := c.chain(tab, cname)
			if err != nil {
				return nil, err
			}
			b.base, b.policy = true, h.policy
			b.policyName = fmt.Sprintf("%s %s policy %s", key, cname, h.policyWord)
			bases = append(bases, based{b, h.priority, fams})
		}
	}
	slices.SortStableFunc(bases, func(a, b based) int { return cmp.Compare(a.priority, b.priority) })
	for _, f := range policy.Families {
		var bs []*chain
		prev := -1
		for i, b := range bases {
			if !slices.Contains(b.fams, f) {
				continue
			}
			if prev >= 0 && bases[prev].priority == b.priority {
				return nil, &UnsupportedError{
					Rule: Rule{File: name, Table: b.c.table, Chain: b.c.name, Text: "chain " + b.c.name},
					What: fmt.Sprintf("two base chains of the input hook at priority %d (%s %s and %s %s): the kernel's order between them is not defined",
						b.priority, bases[prev].c.table, bases[prev].c.name, b.c.table, b.c.name)}
			}
			prev = i
			bs = append(bs, b.c)
		}
		t.progs[f] = &program{bases: bs}
	}
	var all []*chain
	for _, b := range bases {
		all = append(all, b.c)
	}
	err := link(all, func(table, name string) (*chain, error) {
		tab := n.Tables[table]
		if tab.Chains[name] == nil {
			return nil, nil
		}
		return c.chain(tab, name)
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

// header is a base chain's type, hook, priority and policy.
type header struct {
	typ, hook  string
	priority   int
	policy     policy.Verdict
	policyWord string
}

// priorities are the names nft gives the standard priorities of the ip,
// ip6 and inet families.
var priorities = map[string]int{"raw": -300, "mangle": -150, "dstnat": -100, "filter": 0, "security": 50, "srcnat": 100}

// parseHeader reads "type filter hook input priority filter; policy accept;".
func parseHeader(h string) (header, error) {
	out := header{policy: policy.Accept, policyWord: "accept"}
	for _, part := range strings.Split(h, ";") {
		f := strings.Fields(part)
		for i := 0; i < len(f); i++ {
			switch {
			case f[i] == "type" && i+1 < len(f):
				out.typ = f[i+1]
				i++
			case f[i] == "hook" && i+1 < len(f):
				out.hook = f[i+1]
				i++
			case f[i] == "priority" && i+1 < len(f):
				expr := strings.Join(f[i+1:], " ")
				p, err := parsePriority(expr)
				if err != nil {
					return out, err
				}
				out.priority = p
				i = len(f)
			case f[i] == "policy" && i+1 < len(f):
				switch f[i+1] {
				case "accept":
					out.policy = policy.Accept
				case "drop":
					out.policy = policy.Drop
				default:
					return out, fmt.Errorf("base chain policy %s", f[i+1])
				}
				out.policyWord = f[i+1]
				i++
			case f[i] == "device" || f[i] == "devices":
				i = len(f) // netdev and ingress only
			default:
				return out, fmt.Errorf("base chain header %q", strings.TrimSpace(part))
			}
		}
	}
	return out, nil
}

// parsePriority reads filter, filter + 10, -150, ...
func parsePriority(expr string) (int, error) {
	f := strings.Fields(expr)
	base := func(s string) (int, bool) {
		if p, ok := priorities[s]; ok {
			return p, true
		}
		n, err := strconv.Atoi(s)
		return n, err == nil
	}
	p, ok := base(f[0])
	if ok && len(f) == 1 {
		return p, nil
	}
	if ok && len(f) == 3 && (f[1] == "+" || f[1] == "-") {
		n, err := strconv.Atoi(f[2])
		if err == nil {
			if f[1] == "-" {
				n = -n
			}
			return p + n, nil
		}
	}
	return 0, fmt.Errorf("base chain priority %q", expr)
}

// nftCompiler reads chains of an nftables ruleset into compiled chains.
type nftCompiler struct {
	file   string
	nft    *drift.NFT
	chains map[string]*chain // compiled, by table and name
}

// chain compiles a chain of a table once.
func (c *nftCompiler) chain(tab *drift.NFTTable, name string) (*chain, error) {
	if ch := c.chains[tab.Name+"\x00"+name]; ch != nil {
		return ch, nil
	}
	ch := &chain{table: tab.Name, name: name}
	c.chains[tab.Name+"\x00"+name] = ch
	for _, r := range tab.Chains[name].Rules {
		place := Rule{File: c.file, Line: r.LineNo, Table: tab.Name, Chain: name, Text: strings.TrimSpace(r.Text()), Comment: r.Comment}
		cr, err := compileNFT(place, tab)
		if err != nil {
			return nil, err
		}
		ch.rules = append(ch.rules, cr)
	}
	return ch, nil
}
