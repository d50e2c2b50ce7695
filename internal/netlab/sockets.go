package netlab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"time"
)

// Listen opens a stream listener (net.Listen) inside the namespace.
func (n *NS) Listen(network, addr string) (net.Listener, error) {
	var l net.Listener
	err := n.Do(func() (err error) {
		l, err = net.Listen(network, addr)
		return err
	})
	return l, err
}

// ListenPacket opens a datagram socket (net.ListenPacket) inside the
// namespace.
func (n *NS) ListenPacket(network, addr string) (net.PacketConn, error) {
	var c net.PacketConn
	err := n.Do(func() (err error) {
		c, err = net.ListenPacket(network, addr)
		return err
	})
	return c, err
}

// Dial connects from inside the namespace: network is "tcp" or "udp", from
// the local address (the zero Addr lets the kernel choose), to the remote
// one. A TCP dial gives up after timeout; a UDP "dial" sends nothing.
func (n *NS) Dial(network string, from netip.Addr, to netip.AddrPort, timeout time.Duration) (net.Conn, error) {
	d := net.Dialer{Timeout: timeout}
	if from.IsValid() {
		switch network {
		case "tcp":
			d.LocalAddr = net.TCPAddrFromAddrPort(netip.AddrPortFrom(from, 0))
		case "udp":
			d.LocalAddr = net.UDPAddrFromAddrPort(netip.AddrPortFrom(from, 0))
		}
	}
	var c net.Conn
	err := n.Do(func() (err error) {
		c, err = d.DialContext(context.Background(), network, to.String())
		return err
	})
	return c, err
}

// EchoServer sends back whatever it receives: every TCP connection its
// listener accepts, or every UDP datagram to its sender.
type EchoServer struct {
	// Addr is the address it listens on.
	Addr net.Addr

	closer io.Closer
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  map[net.Conn]bool
	closed bool
}

// Echo starts an echo server inside the namespace on network ("tcp" or
// "udp") and addr (":22" listens on every address of both families; give
// UDP servers one address each, so that replies leave from the address the
// client sent to). It stops, closing its connections, when the test ends;
// a failure to listen fails the test. Call it from the test's goroutine.
func (n *NS) Echo(network, addr string) *EchoServer {
	t := n.lab.t
	t.Helper()
	s := &EchoServer{conns: map[net.Conn]bool{}}
	switch network {
	case "tcp", "tcp4", "tcp6":
		l, err := n.Listen(network, addr)
		if err != nil {
			t.Fatalf("netlab: in %s: listen %s %s: %v", n.Short, network, addr, err)
		}
		s.Addr, s.closer = l.Addr(), l
		s.wg.Add(1)
		go s.acceptLoop(l)
	case "udp", "udp4", "udp6":
		pc, err := n.ListenPacket(network, addr)
		if err != nil {
			t.Fatalf("netlab: in %s: listen %s %s: %v", n.Short, network, addr, err)
		}
		s.Addr, s.closer = pc.LocalAddr(), pc
		s.wg.Add(1)
		go s.packetLoop(pc)
	default:
		t.Fatalf("netlab: echo over %q", network)
	}
	t.Cleanup(s.Close)
	return s
}

func (s *EchoServer) acceptLoop(l net.Listener) {
	defer s.wg.Done()
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = true
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			_, _ = io.Copy(c, c)
			c.Close()
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
		}()
	}
}

func (s *EchoServer) packetLoop(pc net.PacketConn) {
	defer s.wg.Done()
	buf := make([]byte, 2048)
	for {
		k, from, err := pc.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue // an ICMP error of an earlier reply
		}
		_, _ = pc.WriteTo(buf[:k], from)
	}
}

// Close stops the server, closes its open connections and waits for its
// goroutines.
func (s *EchoServer) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.closer.Close()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// Outcome is what a probe saw come back.
type Outcome int

// Outcomes of a probe.
const (
	// Accepted: the connection was made (TCP) or an answer came (UDP), and
	// the payload came back.
	Accepted Outcome = iota
	// Refused: a TCP reset or an ICMP port unreachable; something let the
	// packet through to a port nobody listens on.
	Refused
	// Rejected: an ICMP error other than port unreachable (administratively
	// prohibited, host or network unreachable): a firewall's REJECT.
	Rejected
	// TimedOut: nothing came back in time: dropped.
	TimedOut
	// Failed: any other error; the probe says nothing about the firewall.
	Failed
)

// String names the outcome.
func (o Outcome) String() string {
	switch o {
	case Accepted:
		return "accepted"
	case Refused:
		return "refused"
	case Rejected:
		return "rejected"
	case TimedOut:
		return "timed out"
	}
	return "failed"
}

// Classify maps a dial or read error to an outcome (nil is Accepted).
func Classify(err error) Outcome {
	var ne net.Error
	switch {
	case err == nil:
		return Accepted
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET):
		return Refused
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH),
		errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		return Rejected
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded),
		errors.As(err, &ne) && ne.Timeout():
		return TimedOut
	}
	return Failed
}

// Roundtrip writes payload on c and reads it back within timeout.
func Roundtrip(c net.Conn, payload []byte, timeout time.Duration) error {
	if err := c.SetDeadline(time.Now().Add(timeout)); err != nil {
		return err
	}
	defer c.SetDeadline(time.Time{})
	if _, err := c.Write(payload); err != nil {
		return err
	}
	got := make([]byte, len(payload))
	if _, err := io.ReadFull(c, got); err != nil {
		return err
	}
	if !bytes.Equal(got, payload) {
		return fmt.Errorf("netlab: echo returned %q, sent %q", got, payload)
	}
	return nil
}

// Probe asks whether a new connection from inside the namespace gets
// through: over "tcp" it dials and exchanges a line with the echo server;
// over "udp" it sends a datagram every 100ms until an answer comes. Drops
// show as TimedOut after timeout. (Linux takes the first ICMPv6 error to a
// TCP SYN as a soft error: an IPv6 dial sees a REJECT only when the SYN is
// sent again, after a second, so give such probes more than that.) It may be called from any goroutine. The
// error, when there is one, is what the outcome was read from.
func (n *NS) Probe(network string, from netip.Addr, to netip.AddrPort, timeout time.Duration) (Outcome, error) {
	payload := []byte(fmt.Sprintf("rampart probe %s %s -> %s\n", network, from, to))
	c, err := n.Dial(network, from, to, timeout)
	if err != nil {
		return Classify(err), err
	}
	defer c.Close()
	switch network {
	case "tcp":
		err := Roundtrip(c, payload, max(timeout, time.Second))
		if err != nil {
			return Failed, fmt.Errorf("connected, but: %w", err)
		}
		return Accepted, nil
	case "udp":
		deadline := time.Now().Add(timeout)
		buf := make([]byte, len(payload)+16)
		for {
			if _, err := c.Write(payload); err != nil && Classify(err) != Failed {
				return Classify(err), err
			}
			wait := min(100*time.Millisecond, time.Until(deadline))
			if wait <= 0 {
				return TimedOut, os.ErrDeadlineExceeded
			}
			_ = c.SetReadDeadline(time.Now().Add(wait))
			k, err := c.Read(buf)
			switch {
			case err == nil && bytes.Equal(buf[:k], payload):
				return Accepted, nil
			case err == nil:
				return Failed, fmt.Errorf("netlab: udp answer %q", buf[:k])
			case Classify(err) != TimedOut:
				return Classify(err), err
			}
		}
	}
	return Failed, fmt.Errorf("netlab: probe over %q", network)
}
