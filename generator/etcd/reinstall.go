package etcd

import (
	"fmt"

	"github.com/rampart-cluster/rampart/generator/spec"
)

// CheckReplace refuses to replace node n as an etcd member (recover
// --replace) when it is no member (ErrNotMember) or the only one
// (ErrOnlyMember): a replacement joins the running cluster of the others.
func CheckReplace(s *spec.Spec, n *spec.Node) error {
	if !IsMember(s, n) {
		return &refusal{ErrNotMember, fmt.Sprintf("--replace is for etcd members, and %s (role %s) is not one", n.Name, n.Role)}
	}
	if len(Members(s)) < 2 {
		return &refusal{ErrOnlyMember, fmt.Sprintf("%s is the only etcd member: there is no running cluster to join; recover it without --replace", n.Name)}
	}
	return nil
}

// CheckReinstall refuses to reinstall an etcd member of a cluster of two
// or more as a new cluster (ErrWouldBootstrap): on an empty data directory
// with ETCD_INITIAL_CLUSTER_STATE=new it bootstraps alone and never
// rejoins the members that still run. With replace (the member joins as a
// replacement) and for a node that is no member it allows the reinstall.
func CheckReinstall(s *spec.Spec, n *spec.Node, replace bool) error {
	if replace || !IsMember(s, n) {
		return nil
	}
	if members := Members(s); len(members) >= 2 {
		return &refusal{ErrWouldBootstrap, fmt.Sprintf("%s is one of %d etcd members: reinstalled without --replace it would boot on an empty data directory as a new cluster (ETCD_INITIAL_CLUSTER_STATE=new) and never rejoin the others. Replace its membership: rampart recover %s --replace, run the printed commands, then rampart recover %s --replace --reinstall --membership-done --yes", n.Name, len(members), n.Name, n.Name)}
	}
	return nil
}

// CheckMembershipReplaced refuses to reinstall a replacement member
// (--replace --reinstall) unless the operator says that the commands of
// ReplaceCommands have run (done; ErrMembershipNotReplaced): booted on an
// empty data directory before they ran, the node either takes its old
// membership's place with an empty raft log, which etcd stops on, or is no
// member at all. The error lists the steps in their order; file is the
// spec's path as the operator gave it.
func CheckMembershipReplaced(n *spec.Node, file string, done bool) error {
	if done {
		return nil
	}
	return &refusal{ErrMembershipNotReplaced, fmt.Sprintf("--replace --reinstall wipes %s and boots it as a new member of the running etcd cluster, which works only once its old membership is removed and the new one added. In this order:\n"+
		"  1. rampart recover %s -f %s --replace        (prints the etcdctl member commands)\n"+
		"  2. run those commands on one of the other members\n"+
		"  3. rampart recover %s -f %s --replace --reinstall --membership-done --yes", n.Name, n.Name, file, n.Name, file)}
}
