package cli

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rampart-cluster/rampart/generator/policy"
	"github.com/rampart-cluster/rampart/generator/policy/ranges"
	"github.com/rampart-cluster/rampart/generator/spec"
)

// explanation is what `explain -o json` prints.
type explanation struct {
	Verdict string    `json:"verdict"`
	From    string    `json:"from"`
	To      string    `json:"to"`
	Role    string    `json:"role"`
	Port    string    `json:"port"`
	Rule    *ruleJSON `json:"rule"` // null when the default decides
	Default *ruleJSON `json:"default,omitempty"`
	Note    string    `json:"note,omitempty"` // e.g. the node has no address of the source's family
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
		Use:   "explain [-f] cluster.yaml --from ADDR --to NODE|ROLE|ADDR --port PORT/PROTO [-o json]",
		Short: "Say whether a new connection is accepted, and which rule of the spec decides it",
		Long: `explain evaluates the compiled policy (not a kernel) for a new connection from
ADDR to NODE (a node's name, a role's name for members known only by range, or
an address of a node or of a pool) on PORT/PROTO (80/tcp, 53/udp, or icmp for an echo request), and prints the
verdict (ACCEPT, DROP or REJECT) with the rule that decides it and the line of
the spec that made that rule.`,
		Args: specArg(&file),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "text" && output != "json" {
				return usageError("-o must be text or json, not %q", output)
			}
			switch {
			case from == "":
				return usageError("--from is required: the source address")
			case to == "":
				return usageError("--to is required: a node, a role or an address of the cluster")
			case port == "":
				return usageError("--port is required: PORT/tcp, PORT/udp, PORT/sctp, icmp, ipip, esp, gre, vrrp or proto/NUMBER")
			}
			addr, err := netip.ParseAddr(from)
			if err != nil {
				return usageError("--from %q is not an IP address", from)
			}
			addr = addr.Unmap()
			proto, num, err := parsePort(port)
			if err != nil {
				return usageError("--port: %v", err)
			}
			s, err := loadSpec(file)
			if err != nil {
				return err
			}
			p := policy.Compile(s)
			role, node, err := destination(p, to)
			if err != nil {
				return usageError("--to: %v", err)
			}
			d := p.Explain(policy.Query{From: addr, Role: role, Proto: proto, Port: num})
			note := ""
			if node != nil && !hasFamily(node.Addresses, addr) {
				note = fmt.Sprintf("node %s has no %s address: no such connection can reach it", node.Name, map[bool]string{true: "IPv4", false: "IPv6"}[addr.Is4()])
			}
			if output == "json" {
				e := explanation{Verdict: string(d.Verdict), From: addr.String(), To: to, Role: role, Port: port, Note: note}
				if d.Rule != nil {
					e.Rule = provJSON(d.Prov)
				} else {
					e.Default = provJSON(d.Prov)
				}
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(e)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "%s  %s -> %s (role %s) %s\n", d.Verdict, addr, to, role, port)
			if d.Rule != nil {
				fmt.Fprintf(w, "  rule:  %s\n", d.Prov.What)
			} else {
				fmt.Fprintf(w, "  no rule accepts it: %s\n", d.Prov.What)
			}
			fmt.Fprintf(w, "  from:  %s at %s\n", d.Prov.Origin, d.Prov.Pos)
			if note != "" {
				fmt.Fprintf(w, "  note:  %s\n", note)
			}
			return nil
		},
	}
	c.Flags().StringVarP(&file, "file", "f", "", "the cluster spec (required)")
	c.Flags().StringVar(&from, "from", "", "source address (required)")
	c.Flags().StringVar(&to, "to", "", "destination: a node, a role, or an address of a node or pool (required)")
	c.Flags().StringVar(&port, "port", "", "PORT/PROTO (tcp, udp, sctp), e.g. 8080/tcp, or icmp, ipip, esp, gre, vrrp, proto/NUMBER (required)")
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

// parsePort reads 8080/tcp, 53/udp, 3868/sctp, icmp, a protocol by name
// (ipip, esp, gre, vrrp) or proto/NUMBER.
func parsePort(s string) (policy.Protocol, uint16, error) {
	if s == string(policy.ICMP) {
		return policy.ICMP, 0, nil
	}
	if n, ok := spec.NamedProtocols[s]; ok {
		return spec.ProtocolNumber(n), 0, nil
	}
	if num, ok := strings.CutPrefix(s, "proto/"); ok {
		n, err := strconv.Atoi(num)
		if err != nil || n < 0 || n > 255 || !policy.OtherNumbers().Contains(uint16(n)) {
			return "", 0, fmt.Errorf("%q: proto/NUMBER takes an IP protocol number from 0 to 255 other than tcp (6), udp (17), sctp (132), icmp (1) and icmpv6 (58), which have their own form", s)
		}
		return spec.ProtocolNumber(uint8(n)), 0, nil
	}
	num, proto, ok := strings.Cut(s, "/")
	if !ok || !policy.HasPorts(policy.Protocol(proto)) {
		return "", 0, fmt.Errorf("%q is not PORT/tcp, PORT/udp, PORT/sctp, icmp, ipip, esp, gre, vrrp or proto/NUMBER", s)
	}
	n, ok := ranges.ParsePort(num)
	if !ok {
		return "", 0, fmt.Errorf("%q: the port must be a number from 0 to %d", s, ranges.MaxPort)
	}
	return policy.Protocol(proto), n, nil
}
