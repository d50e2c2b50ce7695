package cli

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rampart-cluster/rampart/generator/policy"
	"github.com/rampart-cluster/rampart/generator/spec"
)

// explanation is what `explain -o json` prints: the question, its
// answers and, for scripts that ask about one source and one port, the
// one answer's verdict and rule at the top.
type explanation struct {
	// Verdict is the verdict of every answer, or MIXED when they differ.
	Verdict string `json:"verdict"`
	From    string `json:"from"`
	To      string `json:"to"`
	Role    string `json:"role"`
	Port    string `json:"port"`
	// Rule, Default and Note are those of the answer when there is one;
	// with several, each answer has its own.
	Rule    *ruleJSON    `json:"rule"` // null when the default decides
	Default *ruleJSON    `json:"default,omitempty"`
	Note    string       `json:"note,omitempty"` // e.g. the node has no address of the source's family
	Answers []answerJSON `json:"answers"`
}

// answerJSON is one distinct verdict: the sources and the ports it
// decides, and the rule (or the default) that decides it.
type answerJSON struct {
	Verdict string    `json:"verdict"`
	Sources []string  `json:"sources"` // "10.0.0.1", "node m1", "pool of agent (10.0.16.0/20)", or the whole --from
	Ports   []string  `json:"ports"`   // "8000-8079/tcp", or the protocol ("icmp")
	Rule    *ruleJSON `json:"rule"`    // null when the default decides
	Default *ruleJSON `json:"default,omitempty"`
	Note    string    `json:"note,omitempty"`
}

type ruleJSON struct {
	What   string `json:"what"`
	Origin string `json:"origin"`
	File   string `json:"file"`
	Line   int    `json:"line"`
	Column int    `json:"column"`
}

func provJSON(p policy.Provenance) *ruleJSON {
	return &ruleJSON{What: p.What, Origin: p.Origin, File: p.Pos.File, Line: p.Pos.Line, Column: p.Pos.Col}
}

func newExplain() *cobra.Command {
	var file, from, to, port, output string
	c := &cobra.Command{
		Use:   "explain [-f] cluster.yaml --from NODE|ROLE|OVERLAY|ADDR|CIDR --to NODE|ROLE|ADDR --port PORT[-PORT]/PROTO [-o json]",
		Short: "Say whether a new connection is accepted, and which rule of the spec decides it",
		Long: `explain evaluates the compiled policy (not a kernel) for a new connection from
a source to NODE (a node's name, a role's name for members known only by
range, or an address of a node or of a pool) on PORT/PROTO (80/tcp, 53/udp,
8000-8100/tcp, or icmp for an echo request, ipip, esp, gre, vrrp,
proto/NUMBER, as a port list of the spec writes them), and prints the verdict
(ACCEPT, DROP or REJECT) with the rule that decides it and the line of the
spec that made that rule.

The source (--from) is an address, a range (CIDR), a node's name (its
addresses), a role's name (every address of its nodes and pools) or an
overlay's name (its network). When the sources or the ports of the question
do not all get the same answer, explain prints one answer per distinct
verdict and rule, naming the sources (a node, a pool, an address) and the
sub-ranges of the ports it decides.`,
		Args: specArg(&file),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "text" && output != "json" {
				return usageError("-o must be text or json, not %q", output)
			}
			switch {
			case from == "":
				return usageError("--from is required: an address, a range, a node, a role or an overlay")
			case to == "":
				return usageError("--to is required: a node, a role or an address of the cluster")
			case port == "":
				return usageError("--port is required: PORT/tcp, PORT/udp, PORT/sctp (or a range FROM-TO/PROTO), icmp, ipip, esp, gre, vrrp or proto/NUMBER")
			}
			q, err := spec.ParsePort(port)
			if err != nil {
				return usageError("--port: %v", err)
			}
			s, err := loadSpec(file)
			if err != nil {
				return err
			}
			p := policy.Compile(s)
			src, err := sourceOf(p, from)
			if err != nil {
				return usageError("--from: %v", err)
			}
			role, node, err := destination(p, to)
			if err != nil {
				return usageError("--to: %v", err)
			}
			as := answers(p, src, role, node, q)
			note := func(a *answer) string {
				if !a.noFamily {
					return ""
				}
				return fmt.Sprintf("node %s has no %s address: no such connection can reach it", node.Name, map[bool]string{true: "IPv4", false: "IPv6"}[a.parts[0].prefix.Addr().Is4()])
			}
			if output == "json" {
				e := explanation{From: src.what, To: to, Role: role, Port: port}
				for _, a := range as {
					aj := answerJSON{Verdict: string(a.seg.Verdict), Sources: a.sources(src, as), Ports: a.portsText(q), Note: note(a)}
					if a.seg.Rule != nil {
						aj.Rule = provJSON(a.seg.Prov)
					} else {
						aj.Default = provJSON(a.seg.Prov)
					}
					if e.Verdict == "" || e.Verdict == aj.Verdict {
						e.Verdict = aj.Verdict
					} else {
						e.Verdict = "MIXED"
					}
					e.Answers = append(e.Answers, aj)
				}
				if len(e.Answers) == 1 {
					e.Rule, e.Default, e.Note = e.Answers[0].Rule, e.Answers[0].Default, e.Answers[0].Note
				}
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(e)
			}
			w := cmd.OutOrStdout()
			for _, a := range as {
				fmt.Fprintf(w, "%s  %s -> %s (role %s) %s\n", a.seg.Verdict, strings.Join(a.sources(src, as), ", "), to, role, strings.Join(a.portsText(q), ", "))
				if a.seg.Rule != nil {
					fmt.Fprintf(w, "  rule:  %s\n", a.seg.Prov.What)
				} else {
					fmt.Fprintf(w, "  no rule accepts it: %s\n", a.seg.Prov.What)
				}
				fmt.Fprintf(w, "  from:  %s at %s\n", a.seg.Prov.Origin, a.seg.Prov.Pos)
				if n := note(a); n != "" {
					fmt.Fprintf(w, "  note:  %s\n", n)
				}
			}
			return nil
		},
	}
	c.Flags().StringVarP(&file, "file", "f", "", "the cluster spec (required)")
	c.Flags().StringVar(&from, "from", "", "source: an address, a range (CIDR), a node, a role or an overlay (required)")
	c.Flags().StringVar(&to, "to", "", "destination: a node, a role, or an address of a node or pool (required)")
	c.Flags().StringVar(&port, "port", "", "PORT/PROTO or FROM-TO/PROTO (tcp, udp, sctp), e.g. 8080/tcp or 8000-8100/tcp, or icmp, ipip, esp, gre, vrrp, proto/NUMBER (required)")
	formatFlags(c, &output, "text", "text or json")
	return c
}

// destination resolves --to: a node's name, a role's name, or an address of
// a node (that node) or of a pool (its role). The node is nil for a role.
func destination(p *policy.Policy, to string) (string, *policy.Node, error) {
	if n := p.Node(to); n != nil {
		return n.Role, n, nil
	}
	if r := p.Role(to); r != nil {
		return r.Name, nil, nil
	}
	a, err := netip.ParseAddr(to)
	if err != nil {
		return "", nil, fmt.Errorf("%q is neither a node, a role nor an address of %s", to, p.File)
	}
	loc, ok := p.Locate(a)
	if !ok {
		return "", nil, fmt.Errorf("%s is the address of no node and in no pool of %s", a.Unmap(), p.File)
	}
	return loc.Role, loc.Node, nil
}

// hasFamily reports whether addrs hold an address of a's family.
func hasFamily(addrs []netip.Addr, a netip.Addr) bool {
	for _, x := range addrs {
		if x.Unmap().Is4() == a.Is4() {
			return true
		}
	}
	return false
}
