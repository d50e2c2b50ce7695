package pki

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"
)

// Member is an etcd member as the certificates see it, with the client
// roles of its cluster.
type Member struct {
	Name      string       // node name: the certificate's CN and a DNS SAN, and its file name under etcd/members
	Addresses []netip.Addr // its IP SANs
	// Role is the member's role. Its machine carries that role's client
	// certificate (ClientCert), for etcdctl and agents on the member.
	Role string
	// Clients are the other roles whose machines are clients of the
	// member's etcd cluster (roles with etcd_client). The state holds a
	// client pair for every role that the Role or Clients of a member
	// names (ClientRoles); etcd.Members gives every member the spec's
	// list, so that the members alone say what the state must hold.
	Clients []string
}

// ClientRoles are the roles with a client certificate in a cluster of
// members: each member's Role and Clients, sorted, each once.
func ClientRoles(members []Member) []string {
	var roles []string
	for _, m := range members {
		roles = append(roles, m.Role)
		roles = append(roles, m.Clients...)
	}
	sort.Strings(roles)
	return slices.Compact(roles)
}

// DNSNames are the DNS SANs of a member's certificate: its name and localhost.
func (m Member) DNSNames() []string { return []string{m.Name, "localhost"} }

// Loopback are the addresses a member's certificate names besides the
// member's own: etcd also listens on 127.0.0.1 for clients on the member
// (etcdctl's default endpoint), and they must be able to verify it there.
var Loopback = []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.IPv6Loopback()}

// IPs are the IP SANs of a member's certificate: its addresses and
// Loopback, sorted, each once.
func (m Member) IPs() []netip.Addr {
	addrs := append(slices.Clone(m.Addresses), Loopback...)
	sort.Slice(addrs, func(i, j int) bool { return addrs[i].Less(addrs[j]) })
	return slices.Compact(addrs)
}

func checkMembers(members []Member) error {
	seen := map[string]bool{}
	for _, m := range members {
		if !fileName(m.Name) {
			return fmt.Errorf("pki: %q cannot name a member's files", m.Name)
		}
		if seen[m.Name] {
			return fmt.Errorf("pki: member %s twice", m.Name)
		}
		seen[m.Name] = true
		if len(m.Addresses) == 0 {
			return fmt.Errorf("pki: member %s has no address", m.Name)
		}
		if m.Role == "" {
			return fmt.Errorf("pki: member %s has no role (its machine carries its role's client certificate)", m.Name)
		}
		for _, role := range append([]string{m.Role}, m.Clients...) {
			if !fileName(role) {
				return fmt.Errorf("pki: %q cannot name a client role's files", role)
			}
		}
	}
	return nil
}

// fileName reports whether name can be the base of a file name in the
// state directory.
func fileName(name string) bool {
	return name != "" && !strings.ContainsAny(name, "/\\") && name != "." && name != ".."
}
