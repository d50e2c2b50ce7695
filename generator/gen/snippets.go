package gen

import (
	"errors"

	"github.com/rampart-cluster/rampart/generator/boot"
	"github.com/rampart-cluster/rampart/generator/etcd"
	"github.com/rampart-cluster/rampart/generator/pki"
	"github.com/rampart-cluster/rampart/generator/policy"
	"github.com/rampart-cluster/rampart/generator/report"
	"github.com/rampart-cluster/rampart/generator/spec"
)

// CheckSnippets reports, without a state directory, what gen would refuse
// in the spec's snippets: a snippet writing one of the paths, units or
// users rampart writes on a machine (boot.CheckSnippets), the etcd
// certificates and keys included, whose paths gen takes from the state
// and this check from empty stand-ins. validate runs it, so that a spec it
// passes is one gen takes.
func CheckSnippets(s *spec.Spec, p *policy.Policy) error {
	ms, err := Machines(s, p)
	if err != nil {
		return err
	}
	stand := &pki.Material{Clients: map[string]*pki.Pair{}, Members: map[string]*pki.Pair{}}
	for _, role := range etcd.ClientRoles(s) {
		stand.Clients[role] = &pki.Pair{}
	}
	for _, n := range s.Nodes {
		if etcd.IsMember(s, n) {
			stand.Members[n.Name] = &pki.Pair{}
			stand.Clients[n.Role] = &pki.Pair{}
		}
	}
	var rep report.Report
	for _, m := range ms {
		if len(m.Snippets) == 0 {
			continue
		}
		pub, _, err := withCertificates(s, m, stand)
		if err != nil {
			return err
		}
		var f *report.Failed
		switch err := boot.CheckSnippets(pub); {
		case errors.As(err, &f):
			rep.Merge(f.Report)
		case err != nil:
			return err
		}
	}
	rep.Sort()
	return rep.Err()
}
