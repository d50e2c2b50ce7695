package bootproof

import (
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/rampart-cluster/rampart/internal/netlab"
)

// prober tries, many times a second, new TCP connections from lab hosts to
// the node's addresses for as long as it runs: started before the VM, it
// sees every moment of the boot. It counts what came back per target.
type prober struct {
	stop    chan struct{}
	wg      sync.WaitGroup
	mu      sync.Mutex
	targets []*target
}

// target is one kind of connection the prober keeps trying; outcomes
// counts what its tries saw (Accepted: the connection was made).
type target struct {
	h        *host
	from     netip.Addr
	to       netip.AddrPort
	tries    int
	outcomes map[netlab.Outcome]int
	first    time.Time // the first connection made, if any
}

func (g *target) String() string {
	return fmt.Sprintf("%s %s -> %s", g.h.name, g.from, g.to)
}

// proberWorkers connections to each target run at a time, each waiting
// proberTimeout at most: with drops, about 16 tries a second per target.
const (
	proberWorkers = 4
	proberTimeout = 250 * time.Millisecond
)

// startProber starts trying every (host, port) against the node's
// addresses, IPv4 and IPv6.
func startProber(vmAddrs []netip.Addr, hosts []*host, ports []uint16) *prober {
	p := &prober{stop: make(chan struct{})}
	for _, h := range hosts {
		for i, from := range h.addrs() {
			for _, port := range ports {
				g := &target{h: h, from: from, to: netip.AddrPortFrom(vmAddrs[i], port), outcomes: map[netlab.Outcome]int{}}
				p.targets = append(p.targets, g)
				for w := 0; w < proberWorkers; w++ {
					p.wg.Add(1)
					go p.run(g)
				}
			}
		}
	}
	return p
}

func (p *prober) run(g *target) {
	defer p.wg.Done()
	for {
		select {
		case <-p.stop:
			return
		default:
		}
		began := time.Now()
		// A connection is made when the handshake completes, whatever the
		// service does next: that is what must never happen from the world.
		c, err := g.h.ns.Dial("tcp", g.from, g.to, proberTimeout)
		if err == nil {
			c.Close()
		}
		o := netlab.Classify(err)
		p.mu.Lock()
		g.tries++
		g.outcomes[o]++
		if o == netlab.Accepted && g.first.IsZero() {
			g.first = time.Now()
		}
		p.mu.Unlock()
		// A refusal or an unreachable neighbour comes back at once: do not
		// spin, stay at about the pace of a drop. Once a port has answered,
		// a connection a second per worker keeps watching it without
		// loading the node's service.
		pace := proberTimeout
		if o == netlab.Accepted {
			pace = time.Second
		}
		if d := pace - time.Since(began); d > 0 {
			time.Sleep(d)
		}
	}
}

// finish stops the prober and returns its targets.
func (p *prober) finish() []*target {
	close(p.stop)
	p.wg.Wait()
	return p.targets
}
