package rollout

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/rampart-cluster/rampart/generator/etcd"
	"github.com/rampart-cluster/rampart/generator/pki"
	"github.com/rampart-cluster/rampart/generator/spec"
)

// ErrForeignCA is a member presenting a certificate of a CA that the state
// does not hold: the cluster is not this state's.
var ErrForeignCA = errors.New("a member presents a certificate of a CA the state does not know")

// checker asks the members over TLS, as a client of the state: the
// state's CAs trusted, a client certificate of the members' role.
type checker struct {
	s       *spec.Spec
	members []*spec.Node
	known   []*x509.Certificate
	cfg     *tls.Config
	timeout time.Duration
}

// newChecker trusts every CA the state holds and presents the client pair
// of role from mat.
func newChecker(s *spec.Spec, members []*spec.Node, known []*x509.Certificate, mat *pki.Material, role string) (*checker, error) {
	pair, ok := mat.Clients[role]
	if !ok {
		return nil, fmt.Errorf("the state has no client certificate for role %s", role)
	}
	cert, err := tls.X509KeyPair(pair.Cert, pair.Key)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", pair.CertPath, err)
	}
	pool := x509.NewCertPool()
	for _, c := range known {
		pool.AddCert(c)
	}
	return &checker{s: s, members: members, known: known, timeout: 3 * time.Second,
		cfg: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}}, nil
}

// endpoint is a member's advertised client URL's host:port.
func (c *checker) endpoint(n *spec.Node) string {
	u, _ := url.Parse(etcd.ClientURL(c.s, n))
	return u.Host
}

// checkCA connects to every member that answers and refuses the rollout
// when one presents a certificate that none of the state's CAs signed.
// Members that do not answer are left to the health check.
func (c *checker) checkCA(ctx context.Context) error {
	for _, n := range c.members {
		var leaf *x509.Certificate
		cfg := &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12,
			// only reads what the member presents: verified below
			VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
				if len(raw) > 0 {
					leaf, _ = x509.ParseCertificate(raw[0])
				}
				return nil
			}}
		d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: c.timeout}, Config: cfg}
		dctx, cancel := context.WithTimeout(ctx, c.timeout)
		conn, err := d.DialContext(dctx, "tcp", c.endpoint(n))
		cancel()
		if conn != nil {
			conn.Close()
		}
		if leaf == nil {
			if err != nil {
				continue // not answering: the health check says so
			}
			return fmt.Errorf("%w: %s (%s) presents no certificate", ErrForeignCA, n.Name, c.endpoint(n))
		}
		signed := false
		for _, ca := range c.known {
			if leaf.CheckSignatureFrom(ca) == nil {
				signed = true
				break
			}
		}
		if !signed {
			return fmt.Errorf("%w: %s (%s) presents a certificate of %q issued by %q, which is none of the state's CAs (%s): is --state this cluster's? Nothing was delivered or restarted", ErrForeignCA, n.Name, c.endpoint(n), leaf.Subject, leaf.Issuer, c.knownNames())
		}
	}
	return nil
}

func (c *checker) knownNames() string {
	var out []string
	for _, ca := range c.known {
		out = append(out, fmt.Sprintf("%q until %s", ca.Subject.String(), ca.NotAfter.UTC().Format(time.DateOnly)))
	}
	return strings.Join(out, ", ")
}

// healthy asks one member's /health; nil when it says true. A member that
// answers false (it has no leader: an election or a hand-off is under way)
// is asked again for up to five seconds (etcdctl's command timeout), as
// etcd's client retries a read while there is no leader; one that does not
// answer is not. Only a true answer counts: the wait never lets a restart
// through.
func (c *checker) healthy(ctx context.Context, n *spec.Node) error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := c.healthOnce(ctx, n)
		if !errors.Is(err, errNoLeader) || time.Now().After(deadline) || ctx.Err() != nil {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// errNoLeader is a member's /health answering false.
var errNoLeader = errors.New(`/health says false`)

func (c *checker) healthOnce(ctx context.Context, n *spec.Node) error {
	tr := &http.Transport{TLSClientConfig: c.cfg.Clone(), DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: c.timeout}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+c.endpoint(n)+"/health", nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	var h struct {
		Health string `json:"health"`
	}
	switch err := json.Unmarshal(body, &h); {
	case err == nil && h.Health == "true":
	case err == nil && h.Health == "false":
		return fmt.Errorf("%w (HTTP %d)", errNoLeader, resp.StatusCode)
	default:
		return fmt.Errorf("/health: HTTP %d %s", resp.StatusCode, strings.TrimSpace(string(body)))
	}
	return nil
}

// allHealthy asks every member; the error names each one that is not.
func (c *checker) allHealthy(ctx context.Context) error {
	var bad []string
	for _, n := range c.members {
		if err := c.healthy(ctx, n); err != nil {
			bad = append(bad, fmt.Sprintf("%s (%s): %v", n.Name, c.endpoint(n), err))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("%d of %d members not healthy: %s", len(bad), len(c.members), strings.Join(bad, "; "))
	}
	return nil
}

// waitHealthy asks every member until all are healthy, for at most wait.
func (c *checker) waitHealthy(ctx context.Context, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	for {
		err := c.allHealthy(ctx)
		if err == nil || time.Now().After(deadline) || ctx.Err() != nil {
			return err
		}
		select {
		case <-time.After(200 * time.Millisecond):
		case <-ctx.Done():
		}
	}
}
