package audit

import (
	"strings"
	"testing"
)

// TestNoEffect: rules of the spec that decide nothing are warnings naming
// the rules that decide what they match; a rule that decides some of its
// traffic (a narrower source with another port, a deny inside an allow) is
// not.
func TestNoEffect(t *testing.T) {
	r := audited(t, `version: 1
cluster: sh
profile: dcos
admins: [203.0.113.7]
nodes:
  - {name: m1, role: master, addresses: [10.0.0.1]}
  - {name: a1, role: agent, addresses: [10.0.0.2]}
rules:
  - {from: agent, to: master, ports: [5432/tcp]}
  - {from: 198.51.100.0/24, to: master, ports: [8443/tcp]}
  - {from: 198.51.100.7, to: master, ports: [8443/tcp]}
  - {from: 198.51.100.7, to: master, ports: [8443-8444/tcp]}
  - {from: 198.51.100.7, to: master, ports: [8443/tcp], action: deny}
  - {from: agent, to: master, ports: [8201/tcp], action: deny}
`)
	var got []string
	for _, e := range r.Entries {
		got = append(got, e.Code+" "+e.Path.String()+" "+e.Pos.String())
		if e.Code == "audit.no-effect" && !strings.Contains(e.Message, "decided first by") {
			t.Errorf("%s: the message names no earlier rule", e)
		}
	}
	want := []string{
		"audit.no-effect rules[0] t.yaml:9:5",  // cluster members reach every port
		"audit.no-effect rules[2] t.yaml:11:5", // rules[1] holds it
		"audit.no-effect rules[5] t.yaml:14:5", // the profile's deny of 8201
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"), r)
	}
}
