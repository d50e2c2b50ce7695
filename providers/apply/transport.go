package apply

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// DefaultUser is the user apply logs in as without -l: the administrator
// account of Flatcar and Fedora CoreOS.
const DefaultUser = "core"

// Dialer opens the TCP connection to a node; tests dial from inside a
// network namespace.
type Dialer func(ctx context.Context, network, addr string) (net.Conn, error)

// TransportOptions say how to reach the nodes.
type TransportOptions struct {
	User       string // login user; "" is DefaultUser
	Port       int    // SSH port when the node's address names none; 0 is 22
	KeyFile    string // -i: a private key file (unencrypted, or the agent must hold it)
	Agent      string // the agent's socket (SSH_AUTH_SOCK); "" for none
	KnownHosts string // known_hosts file the host keys are checked against
	Dial       Dialer // nil: a plain TCP dial
	// ConnectTimeout bounds the TCP connection and the SSH handshake; 0
	// is 10 seconds.
	ConnectTimeout time.Duration
}

// Transport reaches nodes over SSH: the user's key or agent, host keys
// checked against known_hosts, never trusted on first use.
type Transport struct {
	user    string
	port    int
	auth    []ssh.AuthMethod
	hosts   *knownHosts
	dial    Dialer
	timeout time.Duration
	closers []io.Closer
}

// NewTransport reads the key file, opens the agent and loads known_hosts.
// It fails without any credential (ErrNoAuth) and when known_hosts cannot
// be read.
func NewTransport(o TransportOptions) (*Transport, error) {
	t := &Transport{user: o.User, port: o.Port, dial: o.Dial, timeout: o.ConnectTimeout}
	if t.user == "" {
		t.user = DefaultUser
	}
	if t.port == 0 {
		t.port = 22
	}
	if t.timeout == 0 {
		t.timeout = 10 * time.Second
	}
	if t.dial == nil {
		t.dial = (&net.Dialer{}).DialContext
	}
	if o.KeyFile != "" {
		pem, err := os.ReadFile(o.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("-i: %w", err)
		}
		signer, err := ssh.ParsePrivateKey(pem)
		var missing *ssh.PassphraseMissingError
		switch {
		case errors.As(err, &missing) && o.Agent != "":
			// the agent holds the decrypted key, or another that works
		case errors.As(err, &missing):
			return nil, fmt.Errorf("-i %s: the key has a passphrase: add it to an ssh-agent (ssh-add) and run apply with SSH_AUTH_SOCK set", o.KeyFile)
		case err != nil:
			return nil, fmt.Errorf("-i %s: %w", o.KeyFile, err)
		default:
			t.auth = append(t.auth, ssh.PublicKeys(signer))
		}
	}
	if o.Agent != "" {
		conn, err := net.Dial("unix", o.Agent)
		if err != nil {
			return nil, fmt.Errorf("ssh-agent at SSH_AUTH_SOCK=%s: %w", o.Agent, err)
		}
		t.closers = append(t.closers, conn)
		t.auth = append(t.auth, ssh.PublicKeysCallback(agent.NewClient(conn).Signers))
	}
	if len(t.auth) == 0 {
		return nil, ErrNoAuth
	}
	hosts, err := loadKnownHosts(o.KnownHosts)
	if err != nil {
		t.Close()
		return nil, err
	}
	t.hosts = hosts
	return t, nil
}

// Close releases the agent connection.
func (t *Transport) Close() error {
	for _, c := range t.closers {
		c.Close()
	}
	t.closers = nil
	return nil
}

// hostPort adds the transport's port to a host name or address that has
// none ("10.0.0.1", "[2001:db8::1]:2222", "node.example:22").
func (t *Transport) hostPort(host string) string {
	if _, _, err := net.SplitHostPort(host); err == nil {
		return host
	}
	return net.JoinHostPort(strings.Trim(host, "[]"), strconv.Itoa(t.port))
}

// Connect opens a new SSH connection to host (a name or an address, with
// an optional :port): TCP, handshake, the host key checked against
// known_hosts (*HostKeyError when it is unknown or changed), and the
// user's authentication.
func (t *Transport) Connect(ctx context.Context, host string) (*Conn, error) {
	addr := t.hostPort(host)
	ctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	raw, err := t.dial(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", addr, err)
	}
	if d, ok := ctx.Deadline(); ok {
		raw.SetDeadline(d)
	}
	stop := context.AfterFunc(ctx, func() { raw.Close() })
	defer stop()
	cfg := &ssh.ClientConfig{
		User:              t.user,
		Auth:              t.auth,
		HostKeyCallback:   t.hosts.callback,
		HostKeyAlgorithms: t.hosts.algorithms(addr),
		Timeout:           t.timeout,
	}
	c, chans, reqs, err := ssh.NewClientConn(raw, addr, cfg)
	if err != nil {
		raw.Close()
		var hk *HostKeyError
		if errors.As(err, &hk) {
			return nil, hk
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("SSH handshake with %s: %w", addr, ctx.Err())
		}
		return nil, fmt.Errorf("SSH handshake with %s: %w", addr, err)
	}
	raw.SetDeadline(time.Time{})
	return &Conn{client: ssh.NewClient(c, chans, reqs), addr: addr, sudo: t.user != "root"}, nil
}

// Conn is one SSH connection to a node.
type Conn struct {
	client *ssh.Client
	addr   string
	sudo   bool // remote commands run with sudo -n: the user is not root
}

// Close closes the connection.
func (c *Conn) Close() error { return c.client.Close() }

// RemoteError is a remote command that ran and failed: its exit status
// and what it wrote on standard error.
type RemoteError struct {
	Status int
	Stderr string
}

// Error gives the status and the last lines of standard error.
func (e *RemoteError) Error() string {
	msg := strings.TrimSpace(e.Stderr)
	if lines := strings.Split(msg, "\n"); len(lines) > 8 {
		msg = strings.Join(lines[len(lines)-8:], "\n")
	}
	if msg == "" {
		return fmt.Sprintf("exit status %d", e.Status)
	}
	return fmt.Sprintf("exit status %d: %s", e.Status, msg)
}

// Command is the remote command line that runs argv as root: argv itself
// for root, behind `sudo -n` (never a password prompt) for anyone else.
// argv are single words of [A-Za-z0-9_./-]: the commands apply runs.
func (c *Conn) Command(argv ...string) string {
	s := strings.Join(argv, " ")
	if c.sudo {
		return "sudo -n " + s
	}
	return s
}

// Output runs argv as root and returns its standard output; a failure is
// a *RemoteError (or the connection's error).
func (c *Conn) Output(ctx context.Context, argv ...string) ([]byte, error) {
	return c.run(ctx, c.Command(argv...), nil)
}

// Script runs a sh script as root (sh -s, the script on standard input,
// so its size is not bounded by the command line) and returns its
// standard output.
func (c *Conn) Script(ctx context.Context, script string) ([]byte, error) {
	return c.run(ctx, c.Command("sh", "-s"), strings.NewReader(script))
}

func (c *Conn) run(ctx context.Context, cmd string, stdin io.Reader) ([]byte, error) {
	s, err := c.client.NewSession()
	if err != nil {
		return nil, fmt.Errorf("%s: new session: %w", c.addr, err)
	}
	defer s.Close()
	var out, stderr bytes.Buffer
	s.Stdout, s.Stderr, s.Stdin = &out, &stderr, stdin
	stop := context.AfterFunc(ctx, func() { s.Close() })
	defer stop()
	err = s.Run(cmd)
	if ctx.Err() != nil {
		return out.Bytes(), fmt.Errorf("%s: %s: %w", c.addr, cmd, ctx.Err())
	}
	var exit *ssh.ExitError
	if errors.As(err, &exit) {
		return out.Bytes(), &RemoteError{Status: exit.ExitStatus(), Stderr: stderr.String()}
	}
	if err != nil {
		return out.Bytes(), fmt.Errorf("%s: %s: %w", c.addr, cmd, err)
	}
	return out.Bytes(), nil
}
