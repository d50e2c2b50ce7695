package spec

import (
	"errors"
	"fmt"

	"gopkg.in/yaml.v3"
)

// ParsePort reads one port entry as a port list of the spec writes it
// (80/tcp, 8000-8100/tcp, 5000/sctp, icmp, ipip, esp, gre, vrrp,
// proto/NUMBER), for an argument of the command line: the same rules and
// the same messages as in a spec. The Port has no position.
func ParsePort(s string) (Port, error) {
	d := &decoder{}
	p, ok := d.port(&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}, nil)
	switch {
	case ok:
		p.Pos = Pos{}
		return p, nil
	case len(d.errs.Entries) > 0:
		return Port{}, errors.New(d.errs.Entries[0].Message)
	}
	return Port{}, fmt.Errorf("%q is not a port", s)
}
