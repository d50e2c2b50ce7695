package review

import (
	"bytes"
	"strings"
	"testing"

	"github.com/rampart-cluster/rampart/generator/policy"
	"github.com/rampart-cluster/rampart/generator/spec"
)

// baseSpec is the old side of every diff case: a small DC/OS cluster.
const baseSpec = `version: 1
cluster: review
profile: dcos

admins:
  - 209.220.51.50/32          # the operator
  - 2001:db8:ad::/48          # the office
trusted: [8.8.8.8]

roles:
  master:
    etcd: true
    admin: [22/tcp, 8080/tcp]
  public-agent:
    public: [80/tcp, 443/tcp]
  bootstrap:
    zone: private

nodes:
  - name: master-1
    role: master
    addresses: [10.88.1.2, "2604:1380:1::10"]
  - name: agent-1
    role: agent
    addresses: [10.88.1.3, "2604:1380:1::11"]
  - name: public-agent-1
    role: public-agent
    addresses: [10.88.1.6]

firewall:
  action: drop
`

// edited applies replacements (each old text must occur exactly once) to
// the base spec.
func edited(t *testing.T, pairs ...string) string {
	t.Helper()
	text := baseSpec
	for i := 0; i < len(pairs); i += 2 {
		if n := strings.Count(text, pairs[i]); n != 1 {
			t.Fatalf("%q occurs %d times in the base spec", pairs[i], n)
		}
		text = strings.Replace(text, pairs[i], pairs[i+1], 1)
	}
	return text
}

func specSide(t *testing.T, name, text string) *Side {
	t.Helper()
	s, err := spec.Parse(name, []byte(text))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return SideOf(policy.Compile(s))
}

// TestDiffTable: each change of the spec gives exactly the expected diff.
func TestDiffTable(t *testing.T) {
	cases := []struct {
		name   string
		new    string
		opened bool
		want   string
	}{
		{
			name: "open a port to the world",
			new:  edited(t, "    admin: [22/tcp, 8080/tcp]\n", "    admin: [22/tcp, 8080/tcp]\n    public: [443/tcp, 8080/tcp]\n"),
			// master's public ports were the profile's 80 and 443: 80 closes,
			// for admins too (they reached it as part of the world)
			opened: true,
			want: `who reaches what: old.yaml → new.yaml

OPENED (accepted now, not before):
  world → master  tcp/8080  (IPv4, IPv6)
      now:    the world reaches master on its public ports (roles.master.public, new.yaml:14)
      before: what no rule accepts is logged and dropped (firewall.action, old.yaml:30)

closed (accepted before, not now):
  world → master  tcp/80  (IPv4, IPv6)
      now:    what no rule accepts is logged and dropped (firewall.action, new.yaml:31)
      before: the world reaches master on its public ports (zone admin default, old.yaml:3)
  admins → master  tcp/80  (IPv4, IPv6)
      now:    what no rule accepts is logged and dropped (firewall.action, new.yaml:31)
      before: the world reaches master on its public ports (zone admin default, old.yaml:3)
`,
		},
		{
			name:   "IP-in-IP and SCTP to the admins",
			new:    edited(t, "    admin: [22/tcp, 8080/tcp]\n", "    admin: [22/tcp, 8080/tcp, ipip, 3868/sctp]\n"),
			opened: true,
			want: `who reaches what: old.yaml → new.yaml

OPENED (accepted now, not before):
  admins → master  sctp/3868  (IPv4, IPv6)
      now:    admins reach master on its admin ports (roles.master.admin, new.yaml:13)
      before: what no rule accepts is logged and dropped (firewall.action, old.yaml:30)
  admins → master  ipip  (IPv4, IPv6)
      now:    admins reach master on its admin ports (roles.master.admin, new.yaml:13)
      before: what no rule accepts is logged and dropped (firewall.action, old.yaml:30)
`,
		},
		{
			name:   "narrow an admin CIDR",
			new:    edited(t, "2001:db8:ad::/48          # the office", "2001:db8:ad::/64          # the office, one subnet"),
			opened: false,
			want: `who reaches what: old.yaml → new.yaml

sources gained (+) or lost (-) addresses:
  admins (IPv6)  - 2001:db8:ad::/48 (admins[1], old.yaml:7)
  admins (IPv6)  + 2001:db8:ad::/64 (admins[1], new.yaml:7)
`,
		},
		{
			name: "add a node",
			new: edited(t, "    addresses: [10.88.1.6]\n", `    addresses: [10.88.1.6]
  - name: agent-2
    role: agent
    addresses: [10.88.1.4, "2604:1380:1::12"]
`),
			opened: true,
			want: `who reaches what: old.yaml → new.yaml

sources gained (+) or lost (-) addresses:
  role agent (IPv4)  + 10.88.1.4/32 (node agent-2, new.yaml:29)         OPENS: reaches what role agent reaches
  role agent (IPv6)  + 2604:1380:1::12/128 (node agent-2, new.yaml:29)  OPENS: reaches what role agent reaches
`,
		},
		{
			name:   "add a deny",
			new:    baseSpec + "rules:\n  - {from: admins, to: master, ports: [8080/tcp], action: deny}\n",
			opened: false,
			want: `who reaches what: old.yaml → new.yaml

closed (accepted before, not now):
  admins → master  tcp/8080  (IPv4, IPv6)
      now:    admins to master on 8080/tcp: denied (rules[0], new.yaml:33)
      before: admins reach master on its admin ports (roles.master.admin, old.yaml:13)
`,
		},
		{
			name: "add a deny for one family",
			new:  baseSpec + "rules:\n  - {from: \"2001:db8:ad::/48\", to: all, ports: [22/tcp], action: deny}\n",
			want: `who reaches what: old.yaml → new.yaml

closed (accepted before, not now):
  admins → master  tcp/22  (IPv6)
      now:    2001:db8:ad::/48 to every role on 22/tcp: denied (rules[0], new.yaml:33)
      before: admins reach master on its admin ports (roles.master.admin, old.yaml:13)
  admins → agent  tcp/22  (IPv6)
      now:    2001:db8:ad::/48 to every role on 22/tcp: denied (rules[0], new.yaml:33)
      before: admins reach agent on its admin ports (zone private default, old.yaml:3)
  admins → public-agent  tcp/22  (IPv6)
      now:    2001:db8:ad::/48 to every role on 22/tcp: denied (rules[0], new.yaml:33)
      before: admins reach public-agent on its admin ports (zone public default, old.yaml:3)
  admins → bootstrap  tcp/22  (IPv6)
      now:    2001:db8:ad::/48 to every role on 22/tcp: denied (rules[0], new.yaml:33)
      before: admins reach bootstrap on its admin ports (zone private default, old.yaml:16)
`,
		},
		{
			name: "reorder roles, nodes and admins",
			new: `version: 1
cluster: review
profile: dcos
roles:
  bootstrap:
    zone: private
  public-agent:
    public: [443/tcp, 80/tcp]
  master:
    admin: [8080/tcp, 22/tcp]
    etcd: true
nodes:
  - name: public-agent-1
    role: public-agent
    addresses: [10.88.1.6]
  - name: agent-1
    addresses: ["2604:1380:1::11", 10.88.1.3]
    role: agent
  - name: master-1
    role: master
    addresses: ["2604:1380:1::10", 10.88.1.2]
trusted: [8.8.8.8]
admins: ["2001:db8:ad::/48", 209.220.51.50]
firewall: {action: drop}
`,
			want: "who reaches what: old.yaml → new.yaml\nno change: every source reaches what it reached before\n",
		},
		{
			name: "change only comments and layout",
			new: strings.NewReplacer("# the operator", "# Alice's laptop", "# the office", "", "trusted: [8.8.8.8]", "trusted:\n  - 8.8.8.8   # resolver",
				"    public: [80/tcp, 443/tcp]\n", "    public:\n      - 80/tcp\n      - 443/tcp\n").Replace("# a comment on top\n" + baseSpec),
			want: "who reaches what: old.yaml → new.yaml\nno change: every source reaches what it reached before\n",
		},
	}
	old := specSide(t, "old.yaml", baseSpec)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := Compare(old, specSide(t, "new.yaml", c.new))
			var b bytes.Buffer
			if err := d.WriteText(&b); err != nil {
				t.Fatal(err)
			}
			if got := b.String(); got != c.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, c.want)
			}
			if d.Opened() != c.opened {
				t.Errorf("Opened() = %v, want %v", d.Opened(), c.opened)
			}
			// the other way round, every opening is a closing and back
			back := Compare(specSide(t, "new.yaml", c.new), old)
			if len(back.Changes) != len(d.Changes) || len(back.Members) != len(d.Members) {
				t.Errorf("reversed: %d changes and %d member changes, want %d and %d", len(back.Changes), len(back.Members), len(d.Changes), len(d.Members))
			}
			for i := range back.Changes {
				if i < len(d.Changes) && back.Changes[i].Opened == d.Changes[i].Opened {
					t.Errorf("reversed change %d did not flip: %+v", i, back.Changes[i])
				}
			}
		})
	}
}

// TestDiffMarkdown: the pull-request comment of a change that opens a port.
func TestDiffMarkdown(t *testing.T) {
	d := Compare(specSide(t, "old.yaml", baseSpec), specSide(t, "new.yaml", baseSpec+"rules:\n  - {from: world, to: bootstrap, ports: [53/udp, icmp]}\n"))
	var b bytes.Buffer
	if err := d.Write(&b, FormatMarkdown); err != nil {
		t.Fatal(err)
	}
	want := "### rampart: who reaches what\n\n`old.yaml` → `new.yaml`\n\n" +
		"#### :warning: Opened: accepted now, not before\n\n" +
		"| from → to | traffic | family | now | before |\n|---|---|---|---|---|\n" +
		"| world → bootstrap | udp/53 | IPv4, IPv6 | world to bootstrap on 53/udp,icmp: allowed (rules[0], new.yaml:33) | what no rule accepts is logged and dropped (firewall.action, old.yaml:30) |\n" +
		"| world → bootstrap | icmp | IPv4, IPv6 | world to bootstrap on 53/udp,icmp: allowed (rules[0], new.yaml:33) | what no rule accepts is logged and dropped (firewall.action, old.yaml:30) |\n" +
		"| admins → bootstrap | udp/53 | IPv4, IPv6 | world to bootstrap on 53/udp,icmp: allowed (rules[0], new.yaml:33) | what no rule accepts is logged and dropped (firewall.action, old.yaml:30) |\n" +
		"| admins → bootstrap | icmp | IPv4, IPv6 | world to bootstrap on 53/udp,icmp: allowed (rules[0], new.yaml:33) | what no rule accepts is logged and dropped (firewall.action, old.yaml:30) |\n\n"
	if got := b.String(); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	b.Reset()
	if err := d.Write(&b, FormatJSON); err != nil || !strings.Contains(b.String(), `"opened": true`) || !strings.Contains(b.String(), `"traffic": "udp/53"`) {
		t.Errorf("json: %v\n%s", err, b.String())
	}
}

// TestDiffRolesAndOverlays: a new role is a new column and row; a changed
// overlay pair shows in the isolation table.
func TestDiffRolesAndOverlays(t *testing.T) {
	withOverlays := baseSpec + "overlays:\n  networks: {it: 10.150.0.0/16, hr: 192.168.0.0/16}\n  allow:\n    - {from: hr, to: it, ports: [80/tcp]}\n"
	d := Compare(specSide(t, "old.yaml", withOverlays), specSide(t, "new.yaml", strings.Replace(withOverlays, "ports: [80/tcp]}", "ports: [80/tcp, 443/tcp]}", 1)))
	var b bytes.Buffer
	if err := d.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	want := `who reaches what: old.yaml → new.yaml

OPENED (accepted now, not before):
  overlay hr → overlay it (forwarded)  tcp/443  (IPv4)
      now:    hr reaches overlay it on 80/tcp,443/tcp (overlays.allow[0], new.yaml:35)
      before: traffic between different overlays gets reject (overlays.default, old.yaml:32)
`
	if got := b.String(); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	d = Compare(specSide(t, "old.yaml", baseSpec), specSide(t, "new.yaml", strings.Replace(baseSpec, "  bootstrap:\n    zone: private\n", "  bootstrap:\n    zone: private\n  web:\n    zone: public\n    public: [443/tcp]\n", 1)))
	b.Reset()
	if err := d.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{
		"  world → web  tcp/443  (IPv4, IPv6)\n      now:    the world reaches web on its public ports (roles.web.public, new.yaml:20)\n      before: no role web in the old spec\n",
		"  admins → web  tcp/22  (IPv4, IPv6)\n      now:    admins reach web on its admin ports (zone public default, new.yaml:18)\n      before: no role web in the old spec\n",
		"  admins → web  tcp/443  (IPv4, IPv6)\n      now:    the world reaches web on its public ports (roles.web.public, new.yaml:20)\n",
	} {
		if !strings.Contains(b.String(), line) {
			t.Errorf("missing %q in:\n%s", line, b.String())
		}
	}
	if !d.Opened() {
		t.Error("a new public role opened nothing")
	}
}
