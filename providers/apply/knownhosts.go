package apply

import (
	"errors"
	"fmt"
	"net"
	"os"
	"slices"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// knownHosts checks host keys against a known_hosts file: a host without
// a line, or with lines for other keys only, is refused.
type knownHosts struct {
	file  string
	check ssh.HostKeyCallback
}

func loadKnownHosts(file string) (*knownHosts, error) {
	if _, err := os.Stat(file); err != nil {
		return nil, fmt.Errorf("--known-hosts: %w (apply checks every node's host key against it and never trusts one on first use)", err)
	}
	check, err := knownhosts.New(file)
	if err != nil {
		return nil, fmt.Errorf("--known-hosts %s: %w", file, err)
	}
	return &knownHosts{file: file, check: check}, nil
}

// callback is the ssh.HostKeyCallback: nil for the key known_hosts holds,
// a *HostKeyError otherwise.
func (k *knownHosts) callback(hostname string, remote net.Addr, key ssh.PublicKey) error {
	err := k.check(hostname, remote, key)
	if err == nil {
		return nil
	}
	var keyErr *knownhosts.KeyError
	var revoked *knownhosts.RevokedError
	switch {
	case errors.As(err, &keyErr):
		return &HostKeyError{Host: hostname, KnownHosts: k.file, Fingerprint: ssh.FingerprintSHA256(key), Changed: len(keyErr.Want) > 0}
	case errors.As(err, &revoked):
		return &HostKeyError{Host: hostname, KnownHosts: k.file, Fingerprint: ssh.FingerprintSHA256(key), Changed: true}
	}
	return err
}

// algorithms are the host key algorithms known_hosts holds keys of for
// addr, so that a node with several keys offers one that can be checked
// (nil, every algorithm, when it holds none: the key is then refused as
// unknown).
func (k *knownHosts) algorithms(addr string) []string {
	var probe ssh.PublicKey = nobody{}
	err := k.check(addr, &net.TCPAddr{}, probe)
	var keyErr *knownhosts.KeyError
	if !errors.As(err, &keyErr) {
		return nil
	}
	var out []string
	for _, w := range keyErr.Want {
		switch t := w.Key.Type(); t {
		case ssh.KeyAlgoRSA:
			out = append(out, ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA)
		default:
			out = append(out, t)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// nobody is a key no known_hosts line holds: looking it up lists the keys
// the file has for a host.
type nobody struct{}

func (nobody) Type() string                        { return "rampart-probe" }
func (nobody) Marshal() []byte                     { return []byte("rampart-probe") }
func (nobody) Verify([]byte, *ssh.Signature) error { return errors.New("no key") }
