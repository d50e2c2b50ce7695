package cli

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rampart-cluster/rampart/generator/policy"
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
		Use:   "explain -f cluster.yaml --from ADDR --to NODE --port PORT/PROTO [-o json]",
		Short: "Say whether a new connection is accepted, and which rule of the spec decides it",
		Long: `explain evaluates the compiled policy (not a kernel) for a new connection from
ADDR to NODE (a node's name, or a role's name for members known only by range)
on PORT/PROTO (80/tcp, 53/udp, or icmp for an echo request), and prints the
verdict (ACCEPT, DROP or REJECT) with the rule that decides it and the line of
the spec that made that rule.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "text" && output != "json" {
				return usageError("-o must be text or json, not %q", output)
			}
			addr, err := netip.ParseAddr(from)
			if err != nil {
				return usageError("--from %q is not an IP address", from)
			}
			proto, num, err := parsePort(port)
			if err != nil {
				return usageError("--port: %v", err)
			}
			if to == "" {
				return usageError("--to is required: a node or a role")
			}
			s, err := loadSpec(file)
			if err != nil {
				return err
			}
			role := ""
			if n := s.Node(to); n != nil {
				role = n.Role
			} else if r := s.Role(to); r != nil {
				role = r.Name
			} else {
				return &exitError{code: ExitInvalid, err: fmt.Errorf("--to %q is neither a node nor a role of %s", to, file)}
			}
			p := policy.Compile(s)
			d := p.Explain(policy.Query{From: addr, Role: role, Proto: proto, Port: num})
			if output == "json" {
				e := explanation{Verdict: string(d.Verdict), From: addr.String(), To: to, Role: role, Port: port}
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
			return nil
		},
	}
	c.Flags().StringVarP(&file, "file", "f", "", "the cluster spec (required)")
	c.Flags().StringVar(&from, "from", "", "source address (required)")
	c.Flags().StringVar(&to, "to", "", "destination node or role (required)")
	c.Flags().StringVar(&port, "port", "", "PORT/PROTO, e.g. 8080/tcp, or icmp (required)")
	c.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	return c
}

// parsePort reads 8080/tcp, 53/udp or icmp.
func parsePort(s string) (spec.Protocol, uint16, error) {
	if s == "icmp" {
		return spec.ICMP, 0, nil
	}
	num, proto, ok := strings.Cut(s, "/")
	if !ok || (proto != "tcp" && proto != "udp") {
		return "", 0, fmt.Errorf("%q is not PORT/tcp, PORT/udp or icmp", s)
	}
	n, err := strconv.Atoi(num)
	if err != nil || n < 1 || n > 65535 {
		return "", 0, fmt.Errorf("%q: the port must be 1-65535", s)
	}
	return spec.Protocol(proto), uint16(n), nil
}
