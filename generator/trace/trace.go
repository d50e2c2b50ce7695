// Package trace follows a packet through a node's firewall files without a
// kernel: the iptables-restore and ipset files, or the nftables ruleset, that
// generator/firewall renders (or what iptables-save, ipset save and nft list
// ruleset print on a node), read with drift's parsers. It answers what the
// kernel would do with a new connection to the node, and which rule decides
// it, so that tests without root can check the rendered files against the
// policy's own evaluator (policy.Explain), as kube-proxy's tests follow
// packets through the rules they generate.
//
// Only the path of a packet addressed to the node is followed: the input
// hook (iptables: INPUT of the mangle and filter tables, with the jump to
// RAMPART-INPUT that rampart's script keeps first in filter INPUT when the
// files do not hold INPUT; nftables: every base chain of the input hook in
// a table of the packet's family, by priority). The prerouting hooks
// (RAMPART-RPFILTER and the nftables chain rpfilter, which ask the routing
// table whether the source is spoofed, and RAMPART-PREROUTING, which marks
// connections for the forward path) and the forward path are not followed:
// the packet is taken to come from a source routed back through its input
// interface.
//
// The tracer refuses rather than guesses: a match, target, statement or set
// type it does not know, a jump to a chain that does not exist, or a rule
// that needs a property the packet was not given (a source port, a hop
// limit, the destination address, an input interface other than "not lo")
// make it return an error. The limit match counts as matching (the packet is
// taken to be within the rate), LOG and counters go on to the next rule, and
// comments are ignored.
package trace

import (
	"fmt"
	"strings"

	"github.com/rampart-cluster/rampart/generator/policy"
)

// Rule is a place in the traced files: a rule that matched the packet.
type Rule struct {
	File    string // the file or listing the rule is in: iptables.v4, rampart.nft, ...
	Line    int    // 1-based line in File; 0 for the jump into RAMPART-INPUT that the files do not hold
	Table   string // filter, mangle; "inet rampart"
	Chain   string // RAMPART-INPUT, input, ...
	Text    string // the rule as written, its comment left out
	Comment string // the rule's comment; "" when it has none
}

// String renders the place and the rule: "iptables.v4:17 RAMPART-INPUT: -A ...".
func (r Rule) String() string {
	where := r.File
	if r.Line > 0 {
		where = fmt.Sprintf("%s:%d", r.File, r.Line)
	}
	if where == "" {
		where = "(" + r.Table + ")"
	}
	return fmt.Sprintf("%s %s: %s", where, r.Chain, r.Text)
}

// Result is what the files do with the packet.
type Result struct {
	Verdict policy.Verdict // Accept, Drop or Reject
	// Rule is the rule that decided: the drop or reject that ended the
	// path, or for an accepted packet the last rule that accepted it (a
	// later base chain that lets it pass by its policy does not take over);
	// nil when the policy of a built-in (base) chain decided, see Policy.
	Rule *Rule
	// Policy names the chain whose policy decided ("filter INPUT policy
	// ACCEPT"); "" when a rule did.
	Policy string
	// Path lists the rules that matched, in the order they were met: jumps,
	// LOG rules, accepting rules of earlier base chains, and the deciding
	// rule last.
	Path []Rule
}

// String renders the verdict and what decided it.
func (r Result) String() string {
	if r.Rule == nil {
		return fmt.Sprintf("%s by %s", r.Verdict, r.Policy)
	}
	s := fmt.Sprintf("%s by %s", r.Verdict, r.Rule)
	if r.Rule.Comment != "" {
		s += " (" + r.Rule.Comment + ")"
	}
	return s
}

// PathString renders every rule of the path, one per line.
func (r Result) PathString() string {
	var b strings.Builder
	for _, p := range r.Path {
		b.WriteString(p.String())
		b.WriteByte('\n')
	}
	if r.Rule == nil {
		b.WriteString(r.Policy + "\n")
	}
	return b.String()
}

// Tracer follows packets through one node's firewall. It is read once, when
// made, and is safe for concurrent use.
type Tracer struct {
	backend string                     // iptables or nftables
	progs   map[policy.Family]*program // the input path of each family the tracer was given
}

// Backend says which files the tracer reads: iptables or nftables.
func (t *Tracer) Backend() string { return t.backend }

// Trace follows a packet addressed to the node through the input path and
// returns the verdict and the rule that decided it.
func (t *Tracer) Trace(pk Packet) (Result, error) {
	pk, err := pk.normalise()
	if err != nil {
		return Result{}, err
	}
	prog := t.progs[pk.family()]
	if prog == nil {
		return Result{}, &NoRulesError{Family: pk.family()}
	}
	return prog.run(&pk)
}
