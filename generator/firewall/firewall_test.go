package firewall

import (
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/rampart-cluster/rampart/generator/policy"
	"github.com/rampart-cluster/rampart/generator/spec"
)

func compile(t *testing.T, yaml string) *policy.Policy {
	t.Helper()
	s, err := spec.Parse("t.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return policy.Compile(s)
}

func fixturePolicies(t *testing.T) map[string]*policy.Policy {
	t.Helper()
	files, _ := filepath.Glob("../../fixtures/*.yaml")
	out := map[string]*policy.Policy{}
	for _, f := range files {
		s, err := spec.LoadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(f)] = policy.Compile(s)
	}
	if len(out) < 4 {
		t.Fatalf("%d fixtures", len(out))
	}
	return out
}

func files(fs []File) map[string]string {
	m := map[string]string{}
	for _, f := range fs {
		m[f.Name] = string(f.Contents)
	}
	return m
}

var (
	declared = regexp.MustCompile(`(?m)^:(\S+) `)
	jumps    = regexp.MustCompile(`-j (RAMPART-\S+)`)
	setRefs  = regexp.MustCompile(`--match-set (\S+) `)
	created  = regexp.MustCompile(`(?m)^create (\S+) `)
	nftRefs  = regexp.MustCompile(`@(\w+)`)
	nftSets  = regexp.MustCompile(`(?m)^\tset (\w+) \{`)
	nftJumps = regexp.MustCompile(`jump (\w+)`)
	nftChain = regexp.MustCompile(`(?m)^\tchain (\w+) \{`)
)

// TestReferencesResolve: every jump targets a chain the same file declares,
// every set a rule matches is created by the same family's ipset file (and
// the ipset names fit the kernel's 31 characters, temporary suffix included);
// likewise for nftables sets and chains.
func TestReferencesResolve(t *testing.T) {
	for name, p := range fixturePolicies(t) {
		for _, role := range p.Roles {
			ipt := files(RenderIPTables(p, role))
			for _, fam := range []string{"4", "6"} {
				rules, sets := ipt["iptables.v"+fam], ipt["ipset.v"+fam]
				chains := map[string]bool{}
				for _, m := range declared.FindAllStringSubmatch(rules, -1) {
					chains[m[1]] = true
				}
				for _, m := range jumps.FindAllStringSubmatch(rules, -1) {
					if !chains[m[1]] {
						t.Errorf("%s %s v%s: jump to undeclared chain %s", name, role, fam, m[1])
					}
				}
				have := map[string]bool{}
				for _, m := range created.FindAllStringSubmatch(sets, -1) {
					have[m[1]] = true
					if len(m[1]) > 31 {
						t.Errorf("%s %s: set name %s is longer than 31 characters", name, role, m[1])
					}
				}
				for _, m := range setRefs.FindAllStringSubmatch(rules, -1) {
					if !have[m[1]] {
						t.Errorf("%s %s v%s: rule matches set %s that ipset.v%s does not create", name, role, fam, m[1], fam)
					}
					if !strings.HasSuffix(m[1], "-"+fam) {
						t.Errorf("%s %s v%s: rule matches set %s of the other family", name, role, fam, m[1])
					}
				}
			}
			nft := files(RenderNFTables(p, role))["rampart.nft"]
			defined := map[string]bool{}
			for _, m := range nftSets.FindAllStringSubmatch(nft, -1) {
				defined[m[1]] = true
			}
			for _, m := range nftRefs.FindAllStringSubmatch(nft, -1) {
				if !defined[m[1]] {
					t.Errorf("%s %s: nft rule uses undefined set @%s", name, role, m[1])
				}
			}
			chains := map[string]bool{}
			for _, m := range nftChain.FindAllStringSubmatch(nft, -1) {
				chains[m[1]] = true
			}
			for _, m := range nftJumps.FindAllStringSubmatch(nft, -1) {
				if !chains[m[1]] {
					t.Errorf("%s %s: nft jump to undefined chain %s", name, role, m[1])
				}
			}
		}
	}
}

// TestFamiliesKeptApart: a rule that names only IPv4 sources yields no IPv6
// rule, never a wider one; the world's rules exist in both families.
func TestFamiliesKeptApart(t *testing.T) {
	p := compile(t, `version: 1
cluster: t
admins: [192.0.2.1]
roles:
  web: {zone: public, public: [443/tcp], admin: [22/tcp]}
rules:
  - {from: 198.51.100.0/24, to: web, ports: [8443/tcp]}
  - {from: "2001:db8::/32", to: web, ports: [9443/tcp]}
`)
	ipt := files(RenderIPTables(p, "web"))
	v4, v6 := ipt["iptables.v4"], ipt["iptables.v6"]
	for _, want := range []struct{ text, in string }{
		{"-m set --match-set rampart-admins-4 src -p tcp -m tcp --dport 22 ", v4},
		{"-s 198.51.100.0/24 -p tcp -m tcp --dport 8443 ", v4},
		{"-s 2001:db8::/32 -p tcp -m tcp --dport 9443 ", v6},
	} {
		if !strings.Contains(want.in, want.text) {
			t.Errorf("missing %q", want.text)
		}
	}
	if strings.Contains(v6, "--dport 22 ") || strings.Contains(v6, "8443") || strings.Contains(v4, "9443") {
		t.Errorf("a single-family rule was rendered in the other family:\nv4:\n%s\nv6:\n%s", v4, v6)
	}
	for _, v := range []string{v4, v6} {
		if !strings.Contains(v, "-p tcp -m tcp --dport 443 ") {
			t.Errorf("the world's rule must be in both families")
		}
	}
	if strings.Contains(ipt["ipset.v6"], "rampart-admins-6") {
		t.Error("an empty IPv6 admins set was created")
	}
	nft := files(RenderNFTables(p, "web"))["rampart.nft"]
	if strings.Contains(nft, "admins_v6") || !strings.Contains(nft, "ip saddr @admins_v4 tcp dport 22 accept") {
		t.Errorf("nft admins rule wrong:\n%s", nft)
	}
}

// TestMultiportSplit: multiport takes 15 ports at most, a range counting two.
func TestMultiportSplit(t *testing.T) {
	var ports []string
	for i := 1; i <= 20; i++ {
		ports = append(ports, strconv.Itoa(1000+i*10)+"/tcp")
	}
	ports = append(ports, "2000-2100/tcp")
	p := compile(t, "version: 1\ncluster: t\nroles:\n  web: {zone: public, public: ["+strings.Join(ports, ", ")+"]}\n")
	v4 := files(RenderIPTables(p, "web"))["iptables.v4"]
	var lines []string
	for _, l := range strings.Split(v4, "\n") {
		if strings.Contains(l, "multiport") {
			lines = append(lines, l)
		}
	}
	if len(lines) != 2 {
		t.Fatalf("want 2 multiport rules, got %d:\n%s", len(lines), strings.Join(lines, "\n"))
	}
	total := 0
	for _, l := range lines {
		list := strings.Fields(strings.SplitN(l, "--dports ", 2)[1])[0]
		weight := 0
		for _, p := range strings.Split(list, ",") {
			weight++
			if strings.Contains(p, ":") {
				weight++
			}
			total++
		}
		if weight > 15 {
			t.Errorf("multiport rule weighs %d > 15: %s", weight, l)
		}
	}
	if total != 21 {
		t.Errorf("%d ports rendered, want 21", total)
	}
}

// TestRejectAction: firewall.action reject rejects with the family's ICMP
// message; drop drops.
func TestRejectAction(t *testing.T) {
	p := compile(t, "version: 1\ncluster: t\nroles:\n  web: {zone: public}\nfirewall: {action: reject}\n")
	ipt := files(RenderIPTables(p, "web"))
	if !strings.Contains(ipt["iptables.v4"], "-j REJECT --reject-with icmp-admin-prohibited\n") ||
		!strings.Contains(ipt["iptables.v6"], "-j REJECT --reject-with icmp6-adm-prohibited\n") {
		t.Errorf("reject not rendered:\n%s\n%s", ipt["iptables.v4"], ipt["iptables.v6"])
	}
	if !strings.Contains(files(RenderNFTables(p, "web"))["rampart.nft"], "reject with icmpx type admin-prohibited comment \"what no rule accepts is logged and rejected (firewall.action)\"") {
		t.Error("nft reject not rendered")
	}
}
