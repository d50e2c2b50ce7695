package bootproof

import (
	"bufio"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rampart-cluster/rampart/generator/policy"
	"github.com/rampart-cluster/rampart/internal/netlab"
	"github.com/rampart-cluster/rampart/internal/vmlab"
)

// probeTimeout is how long a probe waits for an answer: long enough for
// the SYN's retransmission after a second, which is when Linux reports an
// ICMPv6 reject to a TCP dial.
const probeTimeout = 3 * time.Second

// probe makes one new TCP connection from h's address from to to and says
// what came back. A connection counts as accepted only when the service
// answers: sshd's banner on port 22, the canary's echo elsewhere.
func probe(h *host, from netip.Addr, to netip.AddrPort, timeout time.Duration) (netlab.Outcome, error) {
	c, err := h.ns.Dial("tcp", from, to, timeout)
	if err != nil {
		return netlab.Classify(err), err
	}
	defer c.Close()
	if to.Port() == 22 {
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil || !strings.HasPrefix(line, "SSH-") {
			return netlab.Failed, fmt.Errorf("connected, but no SSH banner: %q, %v", line, err)
		}
		return netlab.Accepted, nil
	}
	if err := netlab.Roundtrip(c, []byte(fmt.Sprintf("probe %s -> %s\n", from, to)), 10*time.Second); err != nil {
		return netlab.Failed, fmt.Errorf("connected, but: %w", err)
	}
	return netlab.Accepted, nil
}

// matches says whether a probe's outcome is what a verdict gives: ACCEPT
// an answer, DROP silence, REJECT a refusal or an ICMP error.
func matches(v policy.Verdict, o netlab.Outcome) bool {
	switch v {
	case policy.Accept:
		return o == netlab.Accepted
	case policy.Drop:
		return o == netlab.TimedOut
	case policy.Reject:
		return o == netlab.Refused || o == netlab.Rejected
	}
	return false
}

// byPolicy is the verdict rampart's policy gives a new TCP connection from
// an address to the node's role: what explain says.
func byPolicy(g *generated, role string) func(from netip.Addr, port uint16) policy.Verdict {
	return func(from netip.Addr, port uint16) policy.Verdict {
		return g.policy.Explain(policy.Query{From: from, Role: role, Proto: policy.TCP, Port: port}).Verdict
	}
}

// checkVerdicts probes every port of the VM from each host, IPv4 and IPv6,
// and fails the test where the outcome is not what want says. Hosts and
// families probe at once, the ports of each one after the other (the
// kernel limits the ICMP errors a REJECT sends to one host to a burst of
// a few). It returns how many probes ran.
func checkVerdicts(t *testing.T, vm *vmlab.VM, hosts []*host, ports []uint16, want func(from netip.Addr, port uint16) policy.Verdict) int {
	t.Helper()
	type result struct {
		line string
		ok   bool
	}
	var (
		mu      sync.Mutex
		results []result
		wg      sync.WaitGroup
	)
	for _, h := range hosts {
		for i, from := range h.addrs() {
			wg.Add(1)
			go func(h *host, from, to netip.Addr) {
				defer wg.Done()
				for _, port := range ports {
					v := want(from, port)
					o, err := probe(h, from, netip.AddrPortFrom(to, port), probeTimeout)
					line := fmt.Sprintf("%-6s %-9s -> %s: want %s, got %s", h.name, from, netip.AddrPortFrom(to, port), v, o)
					if err != nil && !matches(v, o) {
						line += fmt.Sprintf(" (%v)", err)
					}
					mu.Lock()
					results = append(results, result{line, matches(v, o)})
					mu.Unlock()
				}
			}(h, from, vm.Addrs[i])
		}
	}
	wg.Wait()
	bad := 0
	for _, r := range results {
		if !r.ok {
			bad++
			t.Errorf("probe %s", r.line)
		}
	}
	t.Logf("%d probes from %d hosts, %d as the policy says", len(results), len(hosts), len(results)-bad)
	return len(results)
}
