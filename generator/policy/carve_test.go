package policy

import (
	"net/netip"
	"testing"
)

// TestNestedPoolsCarved: an edge /24 inside a worker /16 belongs to edge
// only: the worker set leaves it out, the worker's deny does not reach it,
// explain and Locate agree, and the carve is listed.
func TestNestedPoolsCarved(t *testing.T) {
	p := compile(t, `version: 1
cluster: nest
admins: [203.0.113.7]
roles:
  worker: {zone: private}
  edge: {zone: public, public: [8443/tcp]}
pools:
  - {role: worker, cidrs: [10.0.0.0/16]}
  - {role: edge, cidrs: [10.0.5.0/24]}
rules:
  - {from: worker, to: edge, ports: [9999/tcp], action: deny}
`)
	inEdge, inWorker := netip.MustParseAddr("10.0.5.9"), netip.MustParseAddr("10.0.6.9")
	if p.RoleSet("worker").Contains(inEdge) || !p.RoleSet("worker").Contains(inWorker) || !p.RoleSet("edge").Contains(inEdge) {
		t.Errorf("worker set %v, edge set %v: 10.0.5.0/24 belongs to edge only", p.RoleSet("worker").Members, p.RoleSet("edge").Members)
	}
	if loc, ok := p.Locate(inEdge); !ok || loc.Role != "edge" {
		t.Errorf("Locate(%s) = %+v, want the edge pool", inEdge, loc)
	}
	if d := p.Explain(Query{From: inEdge, Role: "edge", Proto: TCP, Port: 9999}); d.Verdict != Accept {
		t.Errorf("an edge member to edge on 9999: %s, want ACCEPT (the worker deny is not its)", d)
	}
	if d := p.Explain(Query{From: inWorker, Role: "edge", Proto: TCP, Port: 9999}); d.Verdict != Drop {
		t.Errorf("a worker to edge on 9999: %s, want DROP", d)
	}
	if len(p.Carved) != 1 || p.Carved[0].Inner.String() != "10.0.5.0/24" || p.Carved[0].OuterRole != "worker" || p.Carved[0].InnerProv.Origin != "pools[1]" {
		t.Errorf("carved %+v", p.Carved)
	}
}
