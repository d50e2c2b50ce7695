package rollout

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"path"
	"strings"

	"github.com/rampart-cluster/rampart/generator/boot"
	"github.com/rampart-cluster/rampart/generator/etcd"
	"github.com/rampart-cluster/rampart/generator/spec"
	"github.com/rampart-cluster/rampart/providers/apply"
)

// SSH delivers over providers/apply's transport (host keys checked against
// known_hosts, the user's key or agent, sudo -n when the user is not root)
// to each node's apply.Address, and restarts etcd with systemctl.
type SSH struct {
	Transport *apply.Transport
}

// Deliver runs deliverScript on the node.
func (m *SSH) Deliver(ctx context.Context, n *spec.Node, files []boot.File) (bool, error) {
	c, err := m.Transport.Connect(ctx, apply.Address(n))
	if err != nil {
		return false, err
	}
	defer c.Close()
	script, err := deliverScript(files)
	if err != nil {
		return false, err
	}
	out, err := c.Script(ctx, script)
	if err != nil {
		return false, err
	}
	return strings.Contains(string(out), "rampart-changed"), nil
}

// RestartEtcd runs `systemctl restart etcd-member.service` on the member.
func (m *SSH) RestartEtcd(ctx context.Context, n *spec.Node) error {
	c, err := m.Transport.Connect(ctx, apply.Address(n))
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.Output(ctx, RestartCommand...)
	return err
}

// RestartCommand is what RestartEtcd runs on a member (behind sudo -n
// for a user other than root).
var RestartCommand = []string{"systemctl", "restart", etcd.Unit}

// deliverScript is the sh that writes each file unless it is there
// already with the same sha256 and mode: the previous version copied to
// PATH.rampart-prev, the new one written to PATH.rampart-new with its mode
// and renamed over PATH (atomic). It prints rampart-changed when it wrote
// anything.
func deliverScript(files []boot.File) (string, error) {
	var b strings.Builder
	b.WriteString("set -eu\numask 077\nchanged=\n")
	for _, f := range files {
		if !safe(f.Path) {
			return "", fmt.Errorf("%s: not a path rollout writes", f.Path)
		}
		sum := sha256.Sum256([]byte(f.Contents))
		mode := fmt.Sprintf("%o", f.Mode.Perm())
		fmt.Fprintf(&b, "P='%s'\n", f.Path)
		fmt.Fprintf(&b, "if [ -f \"$P\" ] && [ \"$(sha256sum <\"$P\")\" = '%s  -' ] && [ \"$(stat -c %%a \"$P\")\" = '%s' ]; then :; else\n", hex.EncodeToString(sum[:]), mode)
		fmt.Fprintf(&b, "\tmkdir -p -m 0755 '%s'\n", path.Dir(f.Path))
		b.WriteString("\tif [ -f \"$P\" ]; then cp -p \"$P\" \"$P" + PrevSuffix + "\"; fi\n")
		b.WriteString("\tbase64 -d >\"$P.rampart-new\" <<'RAMPART_EOF'\n")
		enc := base64.StdEncoding.EncodeToString([]byte(f.Contents))
		for len(enc) > 76 {
			b.WriteString(enc[:76] + "\n")
			enc = enc[76:]
		}
		if enc != "" {
			b.WriteString(enc + "\n")
		}
		fmt.Fprintf(&b, "RAMPART_EOF\n\tchmod %s \"$P.rampart-new\"\n\tmv -f \"$P.rampart-new\" \"$P\"\n\tchanged=1\nfi\n", mode)
	}
	b.WriteString("if [ -n \"$changed\" ]; then echo rampart-changed; fi\n")
	return b.String(), nil
}

// safe is a path that can stand in single quotes in sh: absolute, no
// quote, no newline.
func safe(p string) bool {
	return strings.HasPrefix(p, "/") && !strings.ContainsAny(p, "'\n\\") && path.Clean(p) == p
}
