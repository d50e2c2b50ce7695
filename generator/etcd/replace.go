package etcd

import (
	"strings"

	"github.com/rampart-cluster/rampart/generator/spec"
)

// ReplaceCommands are the etcdctl commands, for sh -e, that replace member
// n: remove the old membership (found by name) and add the new one (unless
// a member of that name or peer URL is there already). They run as printed
// on one of the other members (over SSH, say): etcdctl talks to that
// member's loopback client URL (LocalClientURL) with the files every member
// carries, the CA (CAFile) and its role's client pair (ClientCert,
// ClientKey), so nothing of the workstation's state directory is named.
// They are safe to run again after a partial or complete run: a removed
// member is not looked for twice, and the added one, unstarted and so
// still without a name, is found by its peer URL. The node then boots on
// an empty DataDir with ETCD_INITIAL_CLUSTER_STATE=existing.
func ReplaceCommands(s *spec.Spec, n *spec.Node) []string {
	etcdctl := "ETCDCTL_API=3 etcdctl --endpoints=" + LocalClientURL(s) +
		" --cacert=" + ShellQuote(CAFile) + " --cert=" + ShellQuote(ClientCert) + " --key=" + ShellQuote(ClientKey)
	peer := PeerURL(s, n)
	// `member list`: ID, status, name, peer URLs (comma-separated), client
	// URLs, learner. Node names and URLs need no quoting in awk strings.
	byName := "awk -F', ' '$3 == \"" + n.Name + "\" { print $1; exit }'"
	byNameOrPeer := "awk -F', ' '$3 == \"" + n.Name + "\" { found = 1 } { k = split($4, u, \",\"); for (i = 1; i <= k; i++) if (u[i] == \"" + peer + "\") found = 1 } END { exit !found }'"
	return []string{
		"id=$(" + etcdctl + " member list | " + byName + ")",
		`[ -z "$id" ] || ` + etcdctl + ` member remove "$id"`,
		etcdctl + " member list | " + byNameOrPeer + " || " + etcdctl + " member add " + n.Name + " --peer-urls=" + peer,
	}
}

// ShellQuote quotes s for sh where it needs it, as ReplaceCommands quotes
// the paths it names.
func ShellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-:,=@+") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
