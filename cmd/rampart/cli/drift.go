package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rampart-cluster/rampart/generator/drift"
	"github.com/rampart-cluster/rampart/generator/firewall"
	"github.com/rampart-cluster/rampart/generator/policy"
	"github.com/rampart-cluster/rampart/generator/report"
)

func newDrift() *cobra.Command {
	var file, node, ipt4, ipt6, ipsets, nft, format string
	c := &cobra.Command{
		Use:   "drift [-f] cluster.yaml --node NODE (--iptables-save FILE [--ip6tables-save FILE] --ipset-save FILE | --nft FILE)",
		Short: "Compare the firewall running on a node with what the spec wants",
		Long: `drift reads what runs on a node (the output of iptables-save, ip6tables-save
and ipset save for the iptables backend, of nft list ruleset for nftables;
"-" reads one of them from standard input) and compares it, by meaning, with
what rampart renders for the node's role:

  ssh node sudo iptables-save | rampart drift -f cluster.yaml --node agent-1 \
      --iptables-save - --ipset-save sets.txt

It reports rampart's rules, chains and sets that are missing, extra or
changed, set members missing or extra, a jump from a built-in chain into
rampart's chains that is missing or not first in its chain (the rules
before it are named), a node closed by rampart's failsafe (its ruleset
failed to load), and a rule of another owner placed before
rampart's jump that accepts new connections rampart would drop (judged by
the role's rules, which rampart applies to published container ports in
FORWARD too; jumps to other owners' chains are followed). Other
owners' chains are otherwise ignored; so are comments, counters, and the
way the kernel prints a rule (module order, /32, icmp type numbers). With
nftables, table inet rampart is compared: another table cannot accept what
rampart's table drops, so other tables are not judged.

A family whose save output is not given is not checked. NODE may also be a
role's name, for members known only by range, or an address of a node or
pool. Exit 1 on drift.`,
		Args: specArg(&file),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if format != "text" && format != "json" {
				return usageError("--format must be text or json, not %q", format)
			}
			if node == "" {
				return usageError("--node is required: the node (or role) whose firewall was saved")
			}
			stdin := 0
			for _, f := range []string{ipt4, ipt6, ipsets, nft} {
				if f == "-" {
					stdin++
				}
			}
			if stdin > 1 {
				return usageError("only one input can be read from standard input (-)")
			}
			s, err := loadSpec(file)
			if err != nil {
				return err
			}
			p := policy.Compile(s)
			role, _, err := destination(p, node) // as explain's --to: a node, a role, or an address of a node or pool
			if err != nil {
				return &exitError{code: ExitInvalid, err: fmt.Errorf("--node %q is neither a node nor a role of %s, nor the address of one", node, file)}
			}
			backend := p.Backend
			live := &drift.Live{IPTables: map[policy.Family]*drift.IPTables{}}
			var checked []string
			if backend == "nftables" {
				if ipt4 != "" || ipt6 != "" || ipsets != "" {
					return usageError("%s uses the nftables backend: give --nft (nft list ruleset), not iptables or ipset output", file)
				}
				if nft == "" {
					return usageError("--nft is required: the output of nft list ruleset (- for standard input)")
				}
				if live.NFT, err = readInput(cmd, nft, drift.ParseNFT); err != nil {
					return err
				}
				checked = append(checked, "table "+firewall.NFTTable)
			} else {
				if nft != "" {
					return usageError("%s uses the iptables backend: give --iptables-save, --ip6tables-save and --ipset-save, not --nft", file)
				}
				if ipt4 == "" && ipt6 == "" {
					return usageError("--iptables-save or --ip6tables-save is required (- for standard input)")
				}
				if ipsets == "" {
					return usageError("--ipset-save is required: the output of ipset save (- for standard input)")
				}
				for _, in := range []struct {
					path string
					f    policy.Family
				}{{ipt4, policy.V4}, {ipt6, policy.V6}} {
					if in.path == "" {
						continue
					}
					t, err := readInput(cmd, in.path, drift.ParseIPTables)
					if err != nil {
						return err
					}
					live.IPTables[in.f] = t
					checked = append(checked, in.f.String()+" rules")
				}
				if live.IPSets, err = readInput(cmd, ipsets, drift.ParseIPSet); err != nil {
					return err
				}
				checked = append(checked, "sets")
			}
			want, err := drift.Expect(p, role, backend)
			if err != nil {
				return err
			}
			r := drift.Report(drift.Check(p, role, want, live))
			w := cmd.OutOrStdout()
			if format == "json" {
				entries := r.Entries
				if entries == nil {
					entries = []report.Entry{}
				}
				enc := json.NewEncoder(w)
				enc.SetIndent("", "  ")
				if err := enc.Encode(map[string]any{"node": node, "role": role, "backend": backend, "checked": checked, "drift": !r.Empty(), "entries": entries}); err != nil {
					return err
				}
			} else if r.Empty() {
				fmt.Fprintf(w, "no drift: %s (role %s) runs what %s wants (checked: %s)\n", node, role, file, strings.Join(checked, ", "))
			} else {
				fmt.Fprintf(w, "drift on %s (role %s, %s): %d finding(s)\n", node, role, backend, len(r.Entries))
				if err := r.WriteText(w); err != nil {
					return err
				}
			}
			if !r.Empty() {
				return &exitError{code: ExitInvalid, err: fmt.Errorf("")}
			}
			return nil
		},
	}
	c.Flags().StringVarP(&file, "file", "f", "", "the cluster spec (required)")
	c.Flags().StringVar(&node, "node", "", "the node (or role, or an address) the state was taken from (required)")
	c.Flags().StringVar(&ipt4, "iptables-save", "", "output of iptables-save (- for standard input)")
	c.Flags().StringVar(&ipt6, "ip6tables-save", "", "output of ip6tables-save (- for standard input)")
	c.Flags().StringVar(&ipsets, "ipset-save", "", "output of ipset save (- for standard input)")
	c.Flags().StringVar(&nft, "nft", "", "output of nft list ruleset (- for standard input)")
	formatFlags(c, &format, "text", "text or json")
	return c
}

// readInput opens a file (or standard input for "-") and parses it; a file
// that cannot be read or parsed is a usage error: the wrong file was given.
func readInput[T any](cmd *cobra.Command, path string, parse func(io.Reader, string) (T, error)) (T, error) {
	var zero T
	var r io.Reader
	name := path
	if path == "-" {
		r, name = cmd.InOrStdin(), "standard input"
	} else {
		f, err := os.Open(path)
		if err != nil {
			return zero, usageError("%v", err)
		}
		defer f.Close()
		r = f
	}
	v, err := parse(r, name)
	if err != nil {
		return zero, usageError("%v", err)
	}
	return v, nil
}
