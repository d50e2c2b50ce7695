package drift

import (
	"bytes"
	"fmt"
	"slices"
	"strings"

	"github.com/rampart-cluster/rampart/generator/firewall"
	"github.com/rampart-cluster/rampart/generator/policy"
)

// Kinds of finding.
const (
	MissingRule   = "missing rule"
	ExtraRule     = "extra rule"
	ChangedRule   = "changed rule"
	MissingChain  = "missing chain"
	ExtraChain    = "extra chain"
	ChangedChain  = "changed chain" // an nftables chain's hook, priority or policy
	MissingJump   = "missing jump"
	JumpNotFirst  = "jump not first" // rampart's jump is in its chain, but other rules come before it
	ForeignAccept = "foreign accept before rampart's jump"
	MissingSet    = "missing set"
	ExtraSet      = "extra set"
	ChangedSet    = "changed set"
	MissingMember = "missing member"
	ExtraMember   = "extra member"
	MissingTable  = "missing table"
	// Failsafe: the node is closed by rampart's failsafe (RAMPART-FAILSAFE,
	// table inet rampart_failsafe) because its ruleset failed to load; the
	// unit's journal says why.
	Failsafe = "failsafe"
)

// failsafeDetail says what a node in failsafe admits and where to look.
const failsafeDetail = "the ruleset failed to load and the node is closed: only loopback, replies, the ICMP and DHCP a network needs and the admins' admin ports are admitted; see journalctl -u rampart-firewall, fix the cause, systemctl restart rampart-firewall"

// Finding is one difference between what runs and what the spec wants.
type Finding struct {
	Kind   string `json:"kind"`               // one of the kinds above, e.g. MissingRule
	Family string `json:"family,omitempty"`   // IPv4, IPv6; "" for what covers both (nftables)
	Where  string `json:"where"`              // chain, set or table
	Want   string `json:"want,omitempty"`     // what rampart renders ("" for something extra)
	Found  string `json:"found,omitempty"`    // what runs ("" for something missing)
	Line   int    `json:"line,omitempty"`     // where Found is in the live input
	Pos    int    `json:"position,omitempty"` // the rule's position in its chain (1-based), when it has one
	Detail string `json:"detail,omitempty"`   // what the wanted rule is for, or why a foreign rule matters
	Input  string `json:"input,omitempty"`    // the live input Line is in (its name as given to the parser)
}

// String renders a finding as people read it: its report entry.
func (f Finding) String() string { return f.Entry().String() }

// Live is what runs on a node, parsed. For the iptables backend IPTables
// holds the families given (a family left out is not checked) and IPSets
// the sets; for nftables NFT the ruleset.
type Live struct {
	IPTables map[policy.Family]*IPTables // iptables-save output per family, parsed; a family left out is not checked
	IPSets   *IPSets                     // `ipset save` output, parsed; nil: sets are not checked
	NFT      *NFT                        // `nft list ruleset` output, parsed, for the nftables backend
}

// Expected is what rampart renders for a role, parsed with the same parsers
// as the live state.
type Expected struct {
	IPTables map[policy.Family]*IPTables // rendered iptables.v4 and iptables.v6, parsed; empty for nftables
	IPSets   *IPSets                     // rendered ipset.v4 and ipset.v6 together, parsed; nil for nftables
	NFT      *NFT                        // rendered rampart.nft, parsed; nil for iptables
	Jumps    []firewall.Jump             // jumps into rampart's chains (firewall.Jumps), checked for iptables
}

// NFTFile is the rendered file that holds table inet rampart.
const NFTFile = firewall.NFTFile

// Expect renders the role's firewall for the spec's backend and parses it.
func Expect(p *policy.Policy, role, backend string) (*Expected, error) {
	e := &Expected{IPTables: map[policy.Family]*IPTables{}, Jumps: firewall.Jumps(p)}
	if backend == "nftables" {
		// rampart.nft is the ruleset; other files (the failsafe ruleset the
		// script loads only when rampart.nft fails) are not what runs
		for _, f := range firewall.RenderNFTables(p, role) {
			if f.Name != NFTFile {
				continue
			}
			n, err := ParseNFT(bytes.NewReader(f.Contents), f.Name)
			if err != nil {
				return nil, fmt.Errorf("rendered %s: %w", f.Name, err)
			}
			e.NFT = n
		}
		if e.NFT == nil {
			return nil, fmt.Errorf("rampart renders no %s for role %s", NFTFile, role)
		}
		return e, nil
	}
	var sets bytes.Buffer
	for _, f := range firewall.RenderIPTables(p, role) {
		switch {
		case strings.HasPrefix(f.Name, "ipset."):
			sets.Write(f.Contents)
		case f.Name == "iptables.v4", f.Name == "iptables.v6":
			t, err := ParseIPTables(bytes.NewReader(f.Contents), f.Name)
			if err != nil {
				return nil, fmt.Errorf("rendered %s: %w", f.Name, err)
			}
			fam := policy.V4
			if f.Name == "iptables.v6" {
				fam = policy.V6
			}
			e.IPTables[fam] = t
		}
	}
	st, err := ParseIPSet(&sets, "ipset.v4+ipset.v6")
	if err != nil {
		return nil, fmt.Errorf("rendered ipsets: %w", err)
	}
	e.IPSets = st
	return e, nil
}

// Check compares the live state with the expected one. p and role are used
// to judge foreign rules placed before rampart's jumps. Report turns the
// findings into what people read.
func Check(p *policy.Policy, role string, want *Expected, live *Live) []Finding {
	if want.NFT != nil {
		name := ""
		if live.NFT != nil {
			name = live.NFT.Name
		}
		return from(name, checkNFT(want.NFT, live.NFT))
	}
	var out []Finding
	for _, f := range policy.Families {
		lt := live.IPTables[f]
		if lt == nil {
			continue
		}
		out = append(out, from(lt.Name, checkIPTables(p, role, f, want, lt))...)
	}
	if live.IPSets != nil {
		out = append(out, from(live.IPSets.Name, checkIPSets(want.IPSets, live.IPSets))...)
	}
	return out
}

// from names the input of the findings that point at a line of it.
func from(input string, fs []Finding) []Finding {
	for i := range fs {
		if fs[i].Line > 0 {
			fs[i].Input = input
		}
	}
	return fs
}

// isOurs reports whether an iptables chain is rampart's.
func isOurs(chain string) bool { return strings.HasPrefix(chain, "RAMPART-") }

func checkIPTables(p *policy.Policy, role string, f policy.Family, want *Expected, live *IPTables) []Finding {
	var out []Finding
	fam := f.String()
	for _, tn := range Tables {
		exp, lt := want.IPTables[f].Table(tn), live.Table(tn)
		for _, name := range exp.Order {
			if !isOurs(name) {
				continue
			}
			wc, lc := exp.Chains[name], lt.Chains[name]
			if lc == nil {
				out = append(out, Finding{Kind: MissingChain, Family: fam, Where: where(tn, name),
					Want: fmt.Sprintf("%s:%s - [0:0] with %d rule(s)", tableOpt(tn), name, len(wc.Rules))})
				continue
			}
			out = append(out, compareRules(fam, where(tn, name), iptRules(wc.Rules), iptRules(lc.Rules))...)
		}
		var extra []string
		for name := range lt.Chains {
			if isOurs(name) && exp.Chains[name] == nil {
				extra = append(extra, name)
			}
		}
		slices.Sort(extra)
		for _, name := range extra {
			if name == firewall.ChainFailsafeForward {
				continue // part of the failsafe, reported with RAMPART-FAILSAFE
			}
			if name == firewall.ChainFailsafe {
				out = append(out, Finding{Kind: Failsafe, Family: fam, Where: where(tn, name), Detail: failsafeDetail,
					Found: fmt.Sprintf("%s:%s with %d rule(s)", tableOpt(tn), name, len(lt.Chains[name].Rules))})
				continue
			}
			out = append(out, Finding{Kind: ExtraChain, Family: fam, Where: where(tn, name),
				Found: fmt.Sprintf("%s:%s with %d rule(s)", tableOpt(tn), name, len(lt.Chains[name].Rules))})
		}
	}
	for _, j := range want.Jumps {
		out = append(out, checkJump(p, role, f, want, live, j)...)
	}
	return out
}

// where names a chain in a finding: the chain alone in the filter table,
// "mangle PREROUTING" in another.
func where(table, chain string) string {
	if table == "" || table == "filter" {
		return chain
	}
	return table + " " + chain
}

// tableOpt is the -t option that names a table other than filter in an
// iptables command line, with its trailing space.
func tableOpt(table string) string {
	if table == "" || table == "filter" {
		return ""
	}
	return "-t " + table + " "
}

// rulish is a rule of either backend, for the sequence comparison.
type rulish struct {
	key, line, comment string
	lineNo             int
}

func iptRules(rs []*Rule) []rulish {
	out := make([]rulish, len(rs))
	for i, r := range rs {
		out[i] = rulish{r.key, r.Text(), r.Comment, r.LineNo}
	}
	return out
}

func nftRules(rs []*NFTRule) []rulish {
	out := make([]rulish, len(rs))
	for i, r := range rs {
		out[i] = rulish{r.key, r.Text(), r.Comment, r.LineNo}
	}
	return out
}

// maxCells bounds the comparison table of two chains; longer chains are
// compared position by position.
const maxCells = 4 << 20

// compareRules lines two chains up (longest common subsequence of their
// meanings): rules only wanted are missing, rules only found are extra, and
// where both sides of a gap hold rules they are paired as changed.
func compareRules(fam, chain string, want, found []rulish) []Finding {
	n, m := len(want), len(found)
	var ops []byte // '=', '-' (missing), '+' (extra)
	if n*m <= maxCells {
		lcs := make([][]int32, n+1)
		for i := range lcs {
			lcs[i] = make([]int32, m+1)
		}
		for i := n - 1; i >= 0; i-- {
			for j := m - 1; j >= 0; j-- {
				if want[i].key == found[j].key {
					lcs[i][j] = lcs[i+1][j+1] + 1
				} else {
					lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
				}
			}
		}
		i, j := 0, 0
		for i < n || j < m {
			switch {
			case i < n && j < m && want[i].key == found[j].key:
				ops = append(ops, '=')
				i++
				j++
			case j < m && (i == n || lcs[i][j+1] >= lcs[i+1][j]):
				ops = append(ops, '+')
				j++
			default:
				ops = append(ops, '-')
				i++
			}
		}
	} else {
		for k := 0; k < max(n, m); k++ {
			switch {
			case k < n && k < m && want[k].key == found[k].key:
				ops = append(ops, '=')
			default:
				if k < n {
					ops = append(ops, '-')
				}
				if k < m {
					ops = append(ops, '+')
				}
			}
		}
	}
	var out []Finding
	i, j := 0, 0
	for k := 0; k < len(ops); {
		if ops[k] == '=' {
			i, j, k = i+1, j+1, k+1
			continue
		}
		var miss, extra []int
		for ; k < len(ops) && ops[k] != '='; k++ {
			if ops[k] == '-' {
				miss = append(miss, i)
				i++
			} else {
				extra = append(extra, j)
				j++
			}
		}
		paired := pair(want, found, miss, extra)
		for _, x := range miss {
			if y, ok := paired[x]; ok {
				w, f := want[x], found[y]
				out = append(out, Finding{Kind: ChangedRule, Family: fam, Where: chain, Pos: x + 1,
					Want: w.line, Found: f.line, Line: f.lineNo, Detail: w.comment})
				continue
			}
			out = append(out, Finding{Kind: MissingRule, Family: fam, Where: chain, Pos: x + 1, Want: want[x].line, Detail: want[x].comment})
		}
		taken := map[int]bool{}
		for _, y := range paired {
			taken[y] = true
		}
		for _, y := range extra {
			if !taken[y] {
				out = append(out, Finding{Kind: ExtraRule, Family: fam, Where: chain, Pos: y + 1, Found: found[y].line, Line: found[y].lineNo})
			}
		}
	}
	return out
}

// pair matches, within one gap of two chains, each found rule with the
// missing rule it most resembles (most words of their meanings shared,
// at least half), most alike first: those are changed rules, the rest are
// missing or extra.
func pair(want, found []rulish, miss, extra []int) map[int]int {
	type cand struct {
		x, y  int
		score float64
	}
	var cands []cand
	for _, x := range miss {
		for _, y := range extra {
			if sc := similarity(want[x].key, found[y].key); sc >= 0.5 {
				cands = append(cands, cand{x, y, sc})
			}
		}
	}
	slices.SortStableFunc(cands, func(a, b cand) int {
		switch {
		case a.score > b.score:
			return -1
		case a.score < b.score:
			return 1
		}
		return 0
	})
	out := map[int]int{}
	used := map[int]bool{}
	for _, c := range cands {
		if _, ok := out[c.x]; ok || used[c.y] {
			continue
		}
		out[c.x] = c.y
		used[c.y] = true
	}
	return out
}

// similarity is the share of distinct words two keys have in common.
func similarity(a, b string) float64 {
	wa, wb := words(a), words(b)
	common := 0
	for w := range wa {
		if wb[w] {
			common++
		}
	}
	all := len(wa) + len(wb) - common
	if all == 0 {
		return 1
	}
	return float64(common) / float64(all)
}

func words(s string) map[string]bool {
	out := map[string]bool{}
	for _, w := range strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == '|' || r == '[' || r == ']' || r == ';' || r == ',' }) {
		out[w] = true
	}
	return out
}

// checkJump finds rampart's jump in a chain it does not own and judges the
// rules before it.
func checkJump(p *policy.Policy, role string, f policy.Family, want *Expected, live *IPTables, j firewall.Jump) []Finding {
	fam := f.String()
	jumpLine := fmt.Sprintf("%s-A %s -j %s", tableOpt(j.Table), j.From, j.To)
	plain, _ := parseRule(j.From, []string{"-j", j.To})
	tab := live.Table(j.Table)
	c := tab.Chains[j.From]
	at := -1
	if c != nil {
		at = slices.IndexFunc(c.Rules, func(r *Rule) bool { return r.key == plain.key })
	}
	if at < 0 {
		fd := Finding{Kind: MissingJump, Family: fam, Where: where(j.Table, j.From), Want: jumpLine}
		if c == nil {
			if j.Create {
				fd.Detail = "the chain " + j.From + " does not exist"
			}
			return []Finding{fd}
		}
		if k := slices.IndexFunc(c.Rules, func(r *Rule) bool { return r.Target == j.To }); k >= 0 {
			fd.Found, fd.Line = c.Rules[k].Line, c.Rules[k].LineNo
			fd.Detail = "the jump there is conditional: what it does not match never reaches rampart"
		}
		return []Finding{fd}
	}
	var out []Finding
	if fd, ok := notFirst(fam, j, want.Jumps, c.Rules, at); ok {
		out = append(out, fd)
	}
	for i, r := range c.Rules[:at] {
		if why := judge(p, role, f, want, tab, r, cond{}, 0, map[string]bool{}); why != "" {
			out = append(out, Finding{Kind: ForeignAccept, Family: fam, Where: where(j.Table, j.From), Pos: i + 1,
				Found: r.Line, Line: r.LineNo, Detail: why})
		}
	}
	return out
}

// maxBefore bounds how many of the rules before a jump that is not first
// a finding lists.
const maxBefore = 5

// notFirst reports rampart's jump at index at of a chain's rules when rules
// of another owner stand before it: the apply script inserts its jumps at
// position 1 and keeps them there, so whatever stands before one was put
// there by someone else (Docker's -I FORWARD -j DOCKER-USER, kube-proxy's
// jumps to its KUBE-* chains) and sees every packet before rampart does.
// It is reported whether those rules are harmless or not (a harmful one is
// a ForeignAccept finding besides): a rule that looks harmless today hands
// the packet to a chain its owner may fill tomorrow. rampart's own jumps
// from the same chain, if it ever has two there, do not count.
func notFirst(fam string, j firewall.Jump, jumps []firewall.Jump, rules []*Rule, at int) (Finding, bool) {
	var before []string
	n := 0
	for i, r := range rules[:at] {
		if ownJump(j, jumps, r) {
			continue
		}
		n++
		if n > maxBefore {
			continue
		}
		s := fmt.Sprintf("#%d (line %d) %s", i+1, r.LineNo, r.Line)
		if endsChain(r) {
			s += " [ends the chain for every packet: rampart's jump is never reached]"
		}
		before = append(before, s)
	}
	if n == 0 {
		return Finding{}, false
	}
	if n > maxBefore {
		before = append(before, fmt.Sprintf("and %d more", n-maxBefore))
	}
	jump := rules[at]
	return Finding{Kind: JumpNotFirst, Family: fam, Where: where(j.Table, j.From), Pos: at + 1,
		Found: jump.Line, Line: jump.LineNo,
		Detail: fmt.Sprintf("%d rule(s) of another owner come before it and see every packet first: %s; rampart's script puts its jump at position 1 (%s-I %s 1 -j %s)",
			n, strings.Join(before, "; "), tableOpt(j.Table), j.From, j.To)}, true
}

// ownJump reports whether r is one of rampart's plain jumps from j's chain.
func ownJump(j firewall.Jump, jumps []firewall.Jump, r *Rule) bool {
	for _, o := range jumps {
		if o.Table != j.Table || o.From != j.From || r.Target != o.To {
			continue
		}
		if plain, err := parseRule(o.From, []string{"-j", o.To}); err == nil && plain.key == r.key {
			return true
		}
	}
	return false
}

// endsChain reports whether a rule matches every packet and ends its way
// through the chain (ACCEPT, DROP, REJECT, RETURN or a goto).
func endsChain(r *Rule) bool {
	if r.Proto != "all" || r.Src != nil || r.Dst != nil || r.In != "" || r.Out != "" || len(r.Matches) > 0 {
		return false
	}
	switch r.Target {
	case "ACCEPT", "DROP", "REJECT", "RETURN":
		return true
	}
	return r.Goto
}

// checkIPSets compares rampart's sets (rampart-*).
func checkIPSets(want, live *IPSets) []Finding {
	var out []Finding
	family := func(s *IPSet) string {
		if s.Family == "inet6" {
			return policy.V6.String()
		}
		return policy.V4.String()
	}
	names := slices.Clone(want.Order)
	slices.Sort(names)
	for _, name := range names {
		ws, ls := want.Sets[name], live.Sets[name]
		if ls == nil {
			out = append(out, Finding{Kind: MissingSet, Family: family(ws), Where: name,
				Want: fmt.Sprintf("%s family %s with %d member(s)", ws.Type, ws.Family, len(ws.Members))})
			continue
		}
		if ws.Type != ls.Type || ws.Family != ls.Family || ws.MaxElem != ls.MaxElem {
			out = append(out, Finding{Kind: ChangedSet, Family: family(ws), Where: name, Line: ls.LineNo,
				Want:  fmt.Sprintf("%s family %s maxelem %s", ws.Type, ws.Family, ws.MaxElem),
				Found: fmt.Sprintf("%s family %s maxelem %s", ls.Type, ls.Family, ls.MaxElem)})
		}
		wm, lm := memberKeys(ws), memberKeys(ls)
		for _, k := range sortedKeys(wm) {
			if !lm[k] {
				out = append(out, Finding{Kind: MissingMember, Family: family(ws), Where: name, Want: k})
			}
		}
		for _, k := range sortedKeys(lm) {
			if !wm[k] {
				out = append(out, Finding{Kind: ExtraMember, Family: family(ws), Where: name, Found: k})
			}
		}
	}
	var extra []string
	for name := range live.Sets {
		if strings.HasPrefix(name, "rampart-") && want.Sets[name] == nil {
			extra = append(extra, name)
		}
	}
	slices.Sort(extra)
	for _, name := range extra {
		ls := live.Sets[name]
		out = append(out, Finding{Kind: ExtraSet, Family: family(ls), Where: name, Line: ls.LineNo,
			Found: fmt.Sprintf("%s family %s with %d member(s)", ls.Type, ls.Family, len(ls.Members))})
	}
	return out
}

func memberKeys(s *IPSet) map[string]bool {
	out := map[string]bool{}
	for _, m := range s.Members {
		out[m.key()] = true
	}
	return out
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// checkNFT compares table inet rampart. Another table's accept cannot undo
// a drop in rampart's table (every base chain of a hook sees the packet,
// and a drop anywhere is final), so other tables are not judged.
func checkNFT(want, live *NFT) []Finding {
	name := firewall.NFTTable
	wt := want.Tables[name]
	if wt == nil {
		return nil
	}
	var lt *NFTTable
	var failsafe []Finding
	if live != nil {
		lt = live.Tables[name]
		if live.Tables[firewall.NFTFailsafeTable] != nil {
			failsafe = []Finding{{Kind: Failsafe, Where: "table " + firewall.NFTFailsafeTable, Detail: failsafeDetail}}
		}
	}
	if lt == nil {
		return append(failsafe, Finding{Kind: MissingTable, Where: "table " + name, Want: fmt.Sprintf("table %s with %d set(s) and %d chain(s)", name, len(wt.Sets), len(wt.Chains))})
	}
	out := failsafe
	for _, item := range wt.Order {
		kind, n, _ := strings.Cut(item, " ")
		if kind == "set" {
			out = append(out, compareNFTSet(n, wt.Sets[n], lt.Sets[n])...)
			continue
		}
		wc, lc := wt.Chains[n], lt.Chains[n]
		if lc == nil {
			out = append(out, Finding{Kind: MissingChain, Where: "chain " + n, Want: fmt.Sprintf("chain %s with %d rule(s)", n, len(wc.Rules))})
			continue
		}
		if normNFT(wc.Header) != normNFT(lc.Header) {
			out = append(out, Finding{Kind: ChangedChain, Where: "chain " + n, Want: orNone(wc.Header), Found: orNone(lc.Header), Line: lc.LineNo,
				Detail: "the hook, priority or policy decides whether the chain sees packets at all"})
		}
		out = append(out, compareRules("", "chain "+n, nftRules(wc.Rules), nftRules(lc.Rules))...)
	}
	for _, item := range lt.Order {
		kind, n, _ := strings.Cut(item, " ")
		switch {
		case kind == "set" && wt.Sets[n] == nil:
			out = append(out, Finding{Kind: ExtraSet, Where: "set " + n, Line: lt.Sets[n].LineNo, Found: fmt.Sprintf("set %s with %d element(s)", n, len(lt.Sets[n].Elements))})
		case kind == "chain" && wt.Chains[n] == nil:
			out = append(out, Finding{Kind: ExtraChain, Where: "chain " + n, Line: lt.Chains[n].LineNo, Found: fmt.Sprintf("chain %s with %d rule(s)", n, len(lt.Chains[n].Rules))})
		}
	}
	return out
}

func orNone(s string) string {
	if s == "" {
		return "(no hook: a regular chain)"
	}
	return s
}

func compareNFTSet(name string, ws, ls *NFTSet) []Finding {
	where := "set " + name
	if ls == nil {
		return []Finding{{Kind: MissingSet, Where: where, Want: fmt.Sprintf("set %s with %d element(s)", name, len(ws.Elements))}}
	}
	var out []Finding
	if a, b := strings.Join(ws.Decl, "; "), strings.Join(ls.Decl, "; "); a != b {
		out = append(out, Finding{Kind: ChangedSet, Where: where, Want: a, Found: b, Line: ls.LineNo})
	}
	wr, wo := ws.Intervals()
	lr, lo := ls.Intervals()
	for _, r := range subtractRanges(wr, lr) {
		out = append(out, Finding{Kind: MissingMember, Where: where, Want: r.String()})
	}
	for _, r := range subtractRanges(lr, wr) {
		out = append(out, Finding{Kind: ExtraMember, Where: where, Found: r.String()})
	}
	for _, e := range wo {
		if !slices.Contains(lo, e) {
			out = append(out, Finding{Kind: MissingMember, Where: where, Want: e})
		}
	}
	for _, e := range lo {
		if !slices.Contains(wo, e) {
			out = append(out, Finding{Kind: ExtraMember, Where: where, Found: e})
		}
	}
	return out
}
