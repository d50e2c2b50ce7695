package etcd

import (
	"net/netip"

	"github.com/rampart-cluster/rampart/generator/pki"
	"github.com/rampart-cluster/rampart/generator/spec"
)

// Members lists the etcd members of the spec (the nodes of its etcd
// roles) in spec order, as the certificates see them: each with its role
// and the spec's other client roles (ClientRoles), so that the list alone
// names every client certificate the state holds (pki.ClientRoles).
func Members(s *spec.Spec) []pki.Member {
	var out []pki.Member
	clients := ClientRoles(s)
	for _, n := range s.Nodes {
		if r := s.Role(n.Role); r != nil && r.Etcd {
			out = append(out, pki.Member{Name: n.Name, Addresses: n.Addresses, Role: n.Role, Clients: clients})
		}
	}
	return out
}

// IsMember reports whether the node belongs to an etcd role.
func IsMember(s *spec.Spec, n *spec.Node) bool {
	r := s.Role(n.Role)
	return r != nil && r.Etcd
}

// ClientRoles are the roles of the spec whose machines are etcd clients
// without being members (etcd_client: true), in spec order. Each has its
// own client certificate in the state, as has each etcd role.
func ClientRoles(s *spec.Spec) []string {
	var out []string
	for _, r := range s.Roles {
		if r.EtcdClient && !r.Etcd {
			out = append(out, r.Name)
		}
	}
	return out
}

// Address is the address a member speaks to its peers on and advertises
// to clients: its first private address (RFC 1918, or an IPv6 unique local
// address), else its first address.
func Address(n *spec.Node) netip.Addr {
	for _, a := range n.Addresses {
		if a.IsPrivate() {
			return a
		}
	}
	return n.Addresses[0]
}

func url(a netip.Addr, port uint16) string {
	return "https://" + netip.AddrPortFrom(a, port).String()
}

// PeerURL is the member's peer URL, as `etcdctl member add` takes it.
func PeerURL(s *spec.Spec, n *spec.Node) string { return url(Address(n), s.Etcd.PeerPort) }

// ClientURL is the client URL a member advertises.
func ClientURL(s *spec.Spec, n *spec.Node) string {
	return url(Address(n), s.Etcd.ClientPort)
}

// LocalClientURL is the client URL every member also listens on, so that
// etcdctl and agents on the member itself reach it at etcdctl's default
// endpoint host (127.0.0.1); the member's certificate names 127.0.0.1 and
// ::1 for it. It is never advertised: other machines cannot use it.
func LocalClientURL(s *spec.Spec) string {
	return url(netip.AddrFrom4([4]byte{127, 0, 0, 1}), s.Etcd.ClientPort)
}

// listenClientURLs are the URLs member n takes client connections on: its
// etcd address, and loopback unless that is its etcd address.
func listenClientURLs(s *spec.Spec, n *spec.Node) string {
	urls := ClientURL(s, n)
	if local := LocalClientURL(s); local != urls {
		urls += "," + local
	}
	return urls
}
