package vmlab

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// sshKeys are a VM's SSH identities: its host key, made before the VM
// exists so that the test knows it (no trust on first use), and the client
// key the lab logs in with as root.
type sshKeys struct {
	hostKey, hostPub     string // the host key pair's files, copied into the root
	clientKey, clientPub string
	knownHosts           string // the VM's addresses with the host key
}

// newSSHKeys makes both key pairs in dir and the known_hosts file for addrs.
func newSSHKeys(dir, name string, addrs []netip.Prefix) (*sshKeys, error) {
	k := &sshKeys{
		hostKey: filepath.Join(dir, "ssh_host_ed25519_key"), clientKey: filepath.Join(dir, "id_ed25519"),
		knownHosts: filepath.Join(dir, "known_hosts"),
	}
	k.hostPub, k.clientPub = k.hostKey+".pub", k.clientKey+".pub"
	for _, f := range []string{k.hostKey, k.clientKey} {
		if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "vmlab-"+name, "-f", f).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("ssh-keygen: %v: %s", err, out)
		}
	}
	pub, err := os.ReadFile(k.hostPub)
	if err != nil {
		return nil, err
	}
	fields := strings.Fields(string(pub))
	var kh strings.Builder
	for _, a := range addrs {
		fmt.Fprintf(&kh, "%s %s %s\n", a.Addr(), fields[0], fields[1])
	}
	return k, os.WriteFile(k.knownHosts, []byte(kh.String()), 0o600)
}

// CoreUser is the image's stand-in for Flatcar's and Fedora CoreOS's core
// user: uid and gid 500 as on Flatcar, in group sudo with passwordless sudo
// (made by the Makefile's image recipe). The lab authorizes the VM's client
// key for it as for root.
const CoreUser = "core"

// coreID is CoreUser's uid and gid in the image.
const coreID = 500

// install puts the host key among the VM's own files (the image has none)
// and authorizes the client key for core, and it and more keys for root.
func (k *sshKeys) install(root string, more []string) error {
	copies := []struct {
		from, to string
		mode     os.FileMode
	}{
		{k.hostKey, "etc/ssh/ssh_host_ed25519_key", 0o600},
		{k.hostPub, "etc/ssh/ssh_host_ed25519_key.pub", 0o644},
		{k.clientPub, "root/.ssh/authorized_keys", 0o600},
	}
	for _, c := range copies {
		data, err := os.ReadFile(c.from)
		if err != nil {
			return err
		}
		dst := filepath.Join(root, c.to)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(dst, data, c.mode); err != nil {
			return err
		}
	}
	if len(more) > 0 {
		f, err := os.OpenFile(filepath.Join(root, "root", ".ssh", "authorized_keys"), os.O_APPEND|os.O_WRONLY, 0o600)
		if err != nil {
			return err
		}
		_, err = f.WriteString(strings.Join(more, "\n") + "\n")
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	for _, d := range []string{"root", "root/.ssh"} {
		if err := os.Chmod(filepath.Join(root, d), 0o700); err != nil {
			return err
		}
	}
	if err := authorizeCore(root, k.clientPub); err != nil {
		return err
	}
	// Only the key the test knows: sshd offers nothing else.
	conf := "# vmlab: the host key the test made\nHostKey /etc/ssh/ssh_host_ed25519_key\n"
	return writeFiles(root, map[string]string{"etc/ssh/sshd_config.d/vmlab.conf": conf})
}

// authorizeCore writes core's authorized_keys (the client key) with the
// ownership and modes sshd's StrictModes wants; vmlab-init copies it with
// cp -a, keeping them.
func authorizeCore(root, clientPub string) error {
	data, err := os.ReadFile(clientPub)
	if err != nil {
		return err
	}
	home := filepath.Join(root, "home", CoreUser)
	ssh := filepath.Join(home, ".ssh")
	if err := os.MkdirAll(ssh, 0o700); err != nil {
		return err
	}
	keys := filepath.Join(ssh, "authorized_keys")
	if err := os.WriteFile(keys, data, 0o600); err != nil {
		return err
	}
	for _, p := range []string{home, ssh, keys} {
		if err := os.Lchown(p, coreID, coreID); err != nil {
			return err
		}
	}
	return os.Chmod(home, 0o700)
}

// sshCommand is ssh, run inside the namespace ns (ip netns exec), as root
// to addr with the client key, trusting only the known host key.
func (k *sshKeys) sshCommand(ctx context.Context, ns string, addr netip.Addr, command string) *exec.Cmd {
	args := []string{"netns", "exec", ns, "ssh", "-F", "/dev/null",
		"-i", k.clientKey, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
		"-o", "UserKnownHostsFile=" + k.knownHosts, "-o", "GlobalKnownHostsFile=/dev/null",
		"-o", "StrictHostKeyChecking=yes", "-o", "HostKeyAlgorithms=ssh-ed25519",
		"-o", "ConnectTimeout=5", "-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=3",
		"-o", "LogLevel=ERROR", "root@" + addr.String(), command}
	return exec.CommandContext(ctx, "ip", args...)
}

// run runs command on the VM over SSH and returns its standard output;
// the error carries standard error.
func (k *sshKeys) run(ns string, addr netip.Addr, command string, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := k.sshCommand(ctx, ns, addr, command)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("timed out after %v", timeout)
	}
	if err != nil {
		return stdout.String(), fmt.Errorf("ssh root@%s %q: %v: %s", addr, command, err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// notConnected are what ssh says when it gave up before the session began
// (so the command never ran): a slow VM under TCG on a loaded machine
// sometimes answers the TCP handshake but not the banner in time.
var notConnected = []string{"during banner exchange", "port 22: Connection timed out"}

// runConnected is run, tried again (three times in all) when ssh could
// not begin the session: safe, since the command did not run.
func (k *sshKeys) runConnected(ns string, addr netip.Addr, command string, timeout time.Duration) (string, error) {
	var out string
	var err error
	for range 3 {
		if out, err = k.run(ns, addr, command, timeout); err == nil || !beforeSession(err) {
			return out, err
		}
		time.Sleep(2 * time.Second)
	}
	return out, err
}

// beforeSession says whether ssh failed before the session began.
func beforeSession(err error) bool {
	msg := err.Error()
	if !strings.Contains(msg, "exit status 255") {
		return false
	}
	for _, s := range notConnected {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}
