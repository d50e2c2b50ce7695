package spec

import (
	"fmt"
	"strings"
	"testing"
)

// TestParsePort: an argument is read exactly as the same entry of a port
// list in a spec: the same Port, or the same message.
func TestParsePort(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"8080/tcp", "8000-8100/tcp", "5000/sctp", "53/udp", "icmp", "ipip", "gre", "proto/41",
		"0/tcp", "65536/tcp", "8100-8000/tcp", "80", "80/dccp", "53/icmp", "ipip/tcp", "proto/6", "proto/256", "proto/x", ""} {
		got, err := ParsePort(in)
		s, serr := Parse("p.yaml", []byte(fmt.Sprintf("version: 1\ncluster: x\nroles:\n  web: {zone: public, public: [%q]}\n", in)))
		if serr != nil {
			if err == nil || !strings.Contains(serr.Error(), err.Error()) {
				t.Errorf("%q: the spec says %v, ParsePort %v", in, serr, err)
			}
			continue
		}
		want := s.Roles[0].Public[0]
		want.Pos = Pos{}
		if err != nil || got != want {
			t.Errorf("%q: ParsePort %+v %v, the spec %+v", in, got, err, want)
		}
	}
}
