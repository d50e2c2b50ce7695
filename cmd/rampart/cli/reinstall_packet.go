package cli

import (
	"context"
	"fmt"
	"io"

	"github.com/rampart-cluster/rampart/generator/etcd"
	"github.com/rampart-cluster/rampart/generator/gen"
	"github.com/rampart-cluster/rampart/generator/pki"
	"github.com/rampart-cluster/rampart/generator/spec"
	"github.com/rampart-cluster/rampart/providers/packet"
)

// reinstallPacketNode reinstalls the Packet device of one node with its
// regenerated userdata (`rampart recover NODE --reinstall`): Ignition runs
// only on first boot, so this is how a running node gets new userdata.
// Unlike push, it does not read the output tree: it regenerates the
// userdata as recover writes it (a replacement member's is in no tree).
// replacement is as for packetMachine.
// o.CA.NewCA accepts a device tagged with another etcd CA than the state's
// (the CAs the state replaced are accepted anyway), o.Adopt a device
// without rampart's cluster tag.
func reinstallPacketNode(ctx context.Context, w io.Writer, s *spec.Spec, state, node string, replacement bool, o packet.ReinstallOptions) error {
	target, err := packetTarget(s)
	if err != nil {
		return err
	}
	n := s.Node(node)
	if n == nil {
		return usageError("%s: the spec has no node %s", s.File, node)
	}
	if err := memberReinstallAllowed(s, n, replacement); err != nil {
		return err
	}
	st := pki.Open(state)
	m, err := packetMachine(s, st, n, replacement)
	if err != nil {
		return &exitError{code: ExitInvalid, err: fmt.Errorf("reinstall: %w", withStateAdvice(err, state))}
	}
	ca, err := caCheck(st, o.CA.NewCA)
	if err != nil {
		return err
	}
	o.CA = ca
	client, err := packetClient()
	if err != nil {
		return err
	}
	client.OnRetry = func(r packet.RetryNote) {
		fmt.Fprintf(w, "  retry %s: %s; attempt %d failed, next in %s\n", r.What, r.Reason, r.Attempt, r.Wait.Round(1e6))
	}
	res, err := client.Reinstall(ctx, target, m, o)
	if err != nil {
		return &exitError{code: ExitInvalid, err: fmt.Errorf("reinstall %s: %w", node, err)}
	}
	for _, u := range res.Updated {
		fmt.Fprintf(w, "%s (%s): %s updated\n", node, res.DeviceID, u)
	}
	fmt.Fprintf(w, "%s (%s): reinstalling with %s; it boots its userdata on first boot\n", node, res.DeviceID, target.OS)
	return nil
}

// packetMachine is a node with the userdata its device boots with: the
// final userdata gen makes (Ignition when the spec outputs it, else
// cloud-config), its own for an etcd member and its role's otherwise.
// replacement asks for an etcd member's userdata that joins the running
// cluster instead of bootstrapping it.
func packetMachine(s *spec.Spec, st *pki.State, n *spec.Node, replacement bool) (packet.Machine, error) {
	format := spec.OutputCloudConfig
	if s.Wants(spec.OutputIgnition) {
		format = spec.OutputIgnition
	}
	var data []byte
	var err error
	switch {
	case etcd.IsMember(s, n) && replacement:
		data, err = gen.ReplacementUserdata(s, st, n.Name, format)
	case etcd.IsMember(s, n):
		data, err = gen.FinalUserdata(s, st, "node", n.Name, format)
	default:
		data, err = gen.FinalUserdata(s, st, "role", n.Role, format)
	}
	if err != nil {
		return packet.Machine{}, fmt.Errorf("node %s: %w", n.Name, err)
	}
	m := packet.Machine{Hostname: n.Name, Role: n.Role, Userdata: data}
	if r := s.Role(n.Role); etcd.IsMember(s, n) || (r != nil && r.EtcdClient) {
		// The userdata carries keys of the state's CA: the device is tagged
		// with it, and a device of another CA refuses it.
		if m.EtcdCA, err = st.CAFingerprint(); err != nil {
			return packet.Machine{}, fmt.Errorf("node %s: %w", n.Name, err)
		}
	}
	return m, nil
}
