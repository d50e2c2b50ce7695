package gen

import (
	"github.com/rampart-cluster/rampart/generator/etcd"
	"github.com/rampart-cluster/rampart/generator/pki"
	"github.com/rampart-cluster/rampart/generator/spec"
)

// EtcdMembers is etcd.Members, kept here for the callers that still name it.
func EtcdMembers(s *spec.Spec) []pki.Member { return etcd.Members(s) }

// IsEtcdMember is etcd.IsMember, kept here for the callers that still name
// it.
func IsEtcdMember(s *spec.Spec, n *spec.Node) bool { return etcd.IsMember(s, n) }
