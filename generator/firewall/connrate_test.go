package firewall_test

// The netns connection-rate benchmark: how many new TCP connections a second
// a whitelisted client opens to a node with (a) no firewall, (b) the ruleset
// rampart generates, (c) the naive form of the manual recipe, one iptables
// rule per whitelisted address with the client last, and (d) conntrack with
// a ruleset that accepts everything, the floor of any stateful firewall.

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rampart-cluster/rampart/generator/spec"
	"github.com/rampart-cluster/rampart/internal/netlab"
)

// Addresses of the connection-rate lab: the client, and one server per form
// of firewall, each in its own namespace behind its own veth pair.
var (
	rateClient   = netip.MustParseAddr("10.200.255.254")
	rateStranger = netip.MustParseAddr("10.200.255.253") // on the client, whitelisted nowhere
	rateServers  = [rateForms]netip.Addr{
		netip.MustParseAddr("10.9.0.1"), // (a) no firewall
		netip.MustParseAddr("10.9.0.2"), // (b) rampart's ruleset
		netip.MustParseAddr("10.9.0.3"), // (c) the naive form
		netip.MustParseAddr("10.9.0.4"), // (d) conntrack, everything accepted
	}
)

const ratePort = 8080

// rateForms is the number of forms of firewall measured: a, b, c and d.
const rateForms = 4

// floorRules is form (d): one rule that makes conntrack track every
// connection (a rule that matches on conntrack state turns conntrack on in
// the namespace) and accepts it. Whatever a stateful firewall does, it does
// this much; what rampart costs beyond it is its own.
const floorRules = "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -m conntrack --ctstate NEW,RELATED,ESTABLISHED -j ACCEPT\nCOMMIT\n"

// rateMembers returns the addresses of a cluster of n members: the node
// under test, n-2 agents and the client, in that order.
func rateMembers(n int) []netip.Addr {
	out := []netip.Addr{rateServers[1]}
	for i := range n - 2 {
		out = append(out, netip.AddrFrom4([4]byte{10, byte(16 + i>>16), byte(i >> 8), byte(i)}))
	}
	return append(out, rateClient)
}

// rateSpec is a DC/OS cluster whose agents are the members: the node under
// test and the client are agents too, so the client reaches every port of
// the node as a cluster member.
func rateSpec(members []netip.Addr) string {
	var b strings.Builder
	b.WriteString("version: 1\ncluster: rate\nprofile: dcos\nadmins: [209.220.51.50/32]\nnodes:\n")
	for i, a := range members {
		fmt.Fprintf(&b, "  - {name: n%d, role: agent, addresses: [%s]}\n", i, a)
	}
	return b.String()
}

// naiveRules is the manual recipe's form: established traffic first, then
// one ACCEPT per whitelisted address in the order given, then LOG and DROP.
func naiveRules(members []netip.Addr) string {
	var b strings.Builder
	b.WriteString("*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -i lo -j ACCEPT\n")
	b.WriteString("-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n")
	for _, a := range members {
		fmt.Fprintf(&b, "-A INPUT -s %s/32 -j ACCEPT\n", a)
	}
	b.WriteString("-A INPUT -m limit --limit 10/min -j LOG --log-prefix \"naive-drop: \"\n-A INPUT -j DROP\nCOMMIT\n")
	return b.String()
}

// rateLab is a client namespace linked to a server namespace per form.
type rateLab struct {
	client *netlab.NS
	addrs  [rateForms]netip.AddrPort
}

// newRateLab builds the lab for a cluster of n members and loads the
// firewalls: nothing on server a, the generated agent machine on server b
// (loaded by its firewall script, as the boot unit does), the naive rules on
// server c, the accept-all conntrack rule on server d.
func newRateLab(b *testing.B, n int) *rateLab {
	lab := netlab.New(b)
	client := lab.NewNS("client")
	client.AddHost("lo", rateClient, rateStranger)
	rl := &rateLab{client: client}
	var servers [rateForms]*netlab.NS
	members := rateMembers(n)
	for i, addr := range rateServers {
		srv := lab.NewNS(fmt.Sprintf("srv%c", 'a'+i))
		servers[i] = srv
		dev := fmt.Sprintf("to%c", 'a'+i)
		lab.Link(client, dev, srv, "eth0")
		client.Up(dev)
		srv.Up("eth0")
		srv.AddHost("eth0", addr)
		client.IP("route", "add", addr.String()+"/32", "dev", dev, "src", rateClient.String())
		srv.IP("route", "add", "10.200.255.0/24", "dev", "eth0")
		rl.addrs[i] = netip.AddrPortFrom(addr, ratePort)
		switch i {
		case 1:
			s, err := spec.Parse("rate.yaml", []byte(rateSpec(members)))
			if err != nil {
				b.Fatal(err)
			}
			c := newCluster(b, s)
			install(b, srv, c, c.roleMachine(b, "agent")).apply(b)
		case 2:
			file := filepath.Join(b.TempDir(), "naive.rules")
			if err := os.WriteFile(file, []byte(naiveRules(members)), 0o644); err != nil {
				b.Fatal(err)
			}
			srv.Run("iptables-restore", file)
		case 3:
			file := filepath.Join(b.TempDir(), "floor.rules")
			if err := os.WriteFile(file, []byte(floorRules), 0o644); err != nil {
				b.Fatal(err)
			}
			srv.Run("iptables-restore", file)
		}
		resetServer(b, srv, addr)
	}
	// The firewalls are in force: a stranger reaches only servers a and d.
	for i, to := range rl.addrs {
		c, err := client.Dial("tcp", rateStranger, to, 300*time.Millisecond)
		got := netlab.Classify(err)
		if err == nil {
			c.Close()
		}
		if want := map[bool]netlab.Outcome{true: netlab.Accepted, false: netlab.TimedOut}[i == 0 || i == 3]; got != want {
			b.Fatalf("%d members: stranger to server %c (%s): %s, want %s", n, 'a'+i, to, got, want)
		}
	}
	// and conntrack tracks connections on server d (it is off on server a)
	for i, want := range map[int]bool{0: false, 3: true} {
		if got := tracked(b, servers[i]); got != want {
			b.Fatalf("%d members: conntrack on server %c tracks connections: %t, want %t", n, 'a'+i, got, want)
		}
	}
	return rl
}

// tracked reports whether conntrack holds an entry in the namespace (after
// the stranger's connection, one does where conntrack is on).
func tracked(b *testing.B, ns *netlab.NS) bool {
	out, err := ns.Exec("sysctl", "-n", "net.netfilter.nf_conntrack_count")
	if err != nil {
		return false // no conntrack module: nothing is tracked
	}
	return strings.TrimSpace(string(out)) != "0"
}

// resetServer accepts connections on addr:ratePort and closes each at once
// with a FIN; the client's reset then ends it, so that neither side keeps a
// connection in TIME_WAIT. (A reset from the server could reach the client
// before its connect() has read its result, and fail it.)
func resetServer(b *testing.B, srv *netlab.NS, addr netip.Addr) {
	l, err := srv.Listen("tcp", netip.AddrPortFrom(addr, ratePort).String())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
}

// connect opens one connection and closes it with a reset (SO_LINGER 0):
// every connection takes a fresh ephemeral port and leaves no TIME_WAIT.
func connect(to string) error {
	c, err := net.DialTimeout("tcp4", to, 2*time.Second)
	if err != nil {
		return err
	}
	c.(*net.TCPConn).SetLinger(0)
	return c.Close()
}

// BenchmarkConnRate measures, in one run, the rate of new connections from
// a whitelisted client through (a) no firewall, (b) rampart's ruleset, (c)
// the naive ruleset and (d) conntrack with an accept-all rule, at 100,
// 10,000 and 100,000 members (-short: 100 and 10,000). The four are
// measured in turn on each iteration, in a rotating order, so that the noise
// of a shared machine falls on all alike. It reports the rates and the
// ratios b/a (the cost of rampart's firewall; 1 is free), b/c (rampart's
// speed-up over the naive form) and b/d (rampart against the floor of any
// stateful firewall; the target is 0.95 or more at every size).
func BenchmarkConnRate(b *testing.B) {
	netlab.Require(b, packetTools...)
	sizes := []int{100, 10000, 100000}
	if testing.Short() {
		sizes = sizes[:2]
	}
	for _, n := range sizes {
		rl := newRateLab(b, n)
		targets := [rateForms]string{}
		for i, a := range rl.addrs {
			targets[i] = a.String()
		}
		// one connection each before timing: neighbour discovery, conntrack
		for _, to := range targets {
			if err := rl.client.Do(func() error { return connect(to) }); err != nil {
				b.Fatalf("%d members: %s: %v", n, to, err)
			}
		}
		b.Run(fmt.Sprintf("members=%d", n), func(b *testing.B) {
			var spent [rateForms]time.Duration
			err := rl.client.Do(func() error {
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					for k := range rateForms {
						j := (i + k) % rateForms
						start := time.Now()
						if err := connect(targets[j]); err != nil {
							return fmt.Errorf("connection %d to %s: %w", i, targets[j], err)
						}
						spent[j] += time.Since(start)
					}
				}
				b.StopTimer()
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
			var rate [rateForms]float64
			for j := range rateForms {
				rate[j] = float64(b.N) / spent[j].Seconds()
			}
			b.ReportMetric(rate[0], "conn/s-a-none")
			b.ReportMetric(rate[1], "conn/s-b-rampart")
			b.ReportMetric(rate[2], "conn/s-c-naive")
			b.ReportMetric(rate[3], "conn/s-d-conntrack")
			b.ReportMetric(rate[1]/rate[0], "b/a")
			b.ReportMetric(rate[1]/rate[2], "b/c")
			b.ReportMetric(rate[1]/rate[3], "b/d")
			b.ReportMetric(0, "ns/op") // an op is four connections; the rates say it better
		})
	}
}
