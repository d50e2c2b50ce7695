package firewall_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/rampart-cluster/rampart/generator/firewall"
	"github.com/rampart-cluster/rampart/generator/policy"
	"github.com/rampart-cluster/rampart/generator/spec"
)

// memberSpec is a DC/OS cluster with n agents, each with an IPv4 and an IPv6
// address, and three masters.
func memberSpec(n int) string {
	var b strings.Builder
	b.WriteString("version: 1\ncluster: scale\nprofile: dcos\nadmins: [209.220.51.50/32]\nnodes:\n")
	for i := range 3 {
		fmt.Fprintf(&b, "  - {name: m%d, role: master, addresses: [10.255.0.%d]}\n", i, i+1)
	}
	for i := range n {
		fmt.Fprintf(&b, "  - {name: a%d, role: agent, addresses: [10.%d.%d.%d, \"fd00::%x:%x\"]}\n", i, i>>16, (i>>8)&255, i&255, (i>>16)+1, i&0xffff)
	}
	return b.String()
}

func inputRules(rules string) int {
	return strings.Count(rules, "-A "+firewall.ChainInput+" ")
}

// TestInputPathDoesNotGrow: the number of rules a packet can traverse on the
// INPUT path is the same for 10 and 1,000 members; the addresses live in sets.
func TestInputPathDoesNotGrow(t *testing.T) {
	counts := map[int]int{}
	for _, n := range []int{10, 1000} {
		s, err := spec.Parse("scale.yaml", []byte(memberSpec(n)))
		if err != nil {
			t.Fatal(err)
		}
		files := map[string]string{}
		for _, f := range firewall.RenderIPTables(policy.Compile(s), "master") {
			files[f.Name] = string(f.Contents)
		}
		counts[n] = inputRules(files["iptables.v4"])
		if got := strings.Count(files["ipset.v4"], "\nadd rampart-cluster-4-n "); got != n+3 {
			t.Errorf("%d members: %d cluster set entries, want %d", n, got, n+3)
		}
	}
	if counts[10] != counts[1000] {
		t.Errorf("INPUT rules grow with members: %v", counts)
	}
}

// BenchmarkRulesetScale renders both backends for a master of clusters of
// 10 to 100,000 members and reports rules and set entries per node.
func BenchmarkRulesetScale(b *testing.B) {
	for _, n := range []int{10, 100, 1000, 10000, 100000} {
		s, err := spec.Parse("scale.yaml", []byte(memberSpec(n)))
		if err != nil {
			b.Fatal(err)
		}
		p := policy.Compile(s)
		b.Run(fmt.Sprintf("members=%d", n), func(b *testing.B) {
			var ipt, nft []firewall.File
			for b.Loop() {
				ipt = firewall.RenderIPTables(p, "master")
				nft = firewall.RenderNFTables(p, "master")
			}
			rules, entries := 0, 0
			for _, f := range ipt {
				rules += inputRules(string(f.Contents))
				entries += strings.Count(string(f.Contents), "\nadd ")
			}
			b.ReportMetric(float64(rules), "input-rules/node")
			b.ReportMetric(float64(entries), "set-entries/node")
			b.ReportMetric(float64(len(nft[0].Contents)), "nft-bytes/node")
		})
	}
}
