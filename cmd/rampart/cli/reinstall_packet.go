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

// reinstallPacketNode reinstalls the Packet device of one node
// (`rampart recover NODE --reinstall`): Ignition runs only on first boot,
// so this is how a running node gets new userdata. It delivers what push
// delivers, the reviewed tree's userdata (refused when stale), except for a
// replacement etcd member (replacement): its userdata joins the running
// cluster (ETCD_INITIAL_CLUSTER_STATE=existing) and is in no tree, so it is
// the one recover writes.
// o.CA.NewCA accepts a device tagged with another etcd CA than the state's
// (the CAs the state replaced are accepted anyway), o.Adopt a device
// without rampart's cluster tag.
func reinstallPacketNode(ctx context.Context, w io.Writer, s *spec.Spec, tree, state, node string, replacement bool, o packet.ReinstallOptions) error {
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
	m, err := packetMachine(s, tree, st, n, replacement)
	if err != nil {
		return refused("reinstall", err, state)
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

// packetMachine is a node with the userdata its device boots with: from
// the reviewed tree and the state's final userdata, as push delivers it;
// for a replacement etcd member, the userdata that joins the running
// cluster, made from the spec and the state once the tree is found up to
// date (the spec is the reviewed one).
func packetMachine(s *spec.Spec, tree string, st *pki.State, n *spec.Node, replacement bool) (packet.Machine, error) {
	if !replacement || !etcd.IsMember(s, n) {
		delivered, err := deliveredMachines(s, tree, st)
		if err != nil {
			return packet.Machine{}, err
		}
		ms, err := packet.Machines([]packet.Node{{Name: n.Name, Role: n.Role}}, delivered)
		if err != nil {
			return packet.Machine{}, err
		}
		return ms[0], nil
	}
	// the replacement's userdata is in no tree, but the spec it is made
	// from must be the reviewed one: a stale tree is refused all the same
	if _, err := deliveredMachines(s, tree, st); err != nil {
		return packet.Machine{}, err
	}
	format := spec.OutputCloudConfig
	if s.Wants(spec.OutputIgnition) {
		format = spec.OutputIgnition
	}
	data, err := gen.ReplacementUserdata(s, st, n.Name, format)
	if err != nil {
		return packet.Machine{}, fmt.Errorf("node %s: %w", n.Name, err)
	}
	// The userdata carries keys of the state's CA: the device is tagged
	// with it, and a device of another CA refuses it.
	ca, err := st.CAFingerprint()
	if err != nil {
		return packet.Machine{}, fmt.Errorf("node %s: %w", n.Name, err)
	}
	return packet.Machine{Hostname: n.Name, Role: n.Role, Userdata: data, EtcdCA: ca}, nil
}
