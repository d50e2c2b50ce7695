package drift

import (
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"
)

// IPSets is the state of the kernel's sets as `ipset save` prints it, or as
// an `ipset restore` file leaves it once every command has run.
type IPSets struct {
	Sets  map[string]*IPSet // keyed by set name
	Order []string          // set names in creation order, renames applied, destroyed sets removed
	Name  string            // the input's name, as given to ParseIPSet
}

// IPSet is one set: its type, the options that change its meaning, and its
// members.
type IPSet struct {
	Name    string         // the set's current name, after any swap or rename
	Type    string         // hash:net, hash:ip, list:set, ...
	Family  string         // inet, inet6
	MaxElem string         // the maxelem option as written; "" when not given
	Members []Member       // in the order added, deletions applied
	LineNo  int            // line of its create command in the input
	index   map[string]int // member key -> position in Members
}

// put adds a member unless the set holds it; del removes it.
func (s *IPSet) put(m Member) {
	if s.index == nil {
		s.index = map[string]int{}
	}
	if _, ok := s.index[m.key()]; !ok {
		s.index[m.key()] = len(s.Members)
		s.Members = append(s.Members, m)
	}
}

func (s *IPSet) del(m Member) {
	i, ok := s.index[m.key()]
	if !ok {
		return
	}
	s.Members = slices.Delete(s.Members, i, i+1)
	delete(s.index, m.key())
	for k, j := range s.index {
		if j > i {
			s.index[k] = j - 1
		}
	}
}

// clear empties the set.
func (s *IPSet) clear() { s.Members, s.index = nil, nil }

// Member is one entry of a set. Addresses are host prefixes; nomatch
// entries (exceptions in a hash:net set) are kept apart.
type Member struct {
	Prefix  netip.Prefix // for address sets
	Name    string       // for list:set, and entries that are not addresses (ports, tuples)
	NoMatch bool         // added with nomatch: an exception in a hash:net set
}

// String renders the member the way ipset prints it.
func (m Member) String() string {
	s := m.Name
	if m.Prefix.IsValid() {
		s = m.Prefix.String()
		if m.Prefix.IsSingleIP() {
			s = m.Prefix.Addr().String()
		}
	}
	if m.NoMatch {
		s += " nomatch"
	}
	return s
}

func (m Member) key() string { return m.String() }

// ParseIPSet reads `ipset save` output or an `ipset restore` file, running
// its create, add, del, flush, swap, rename and destroy commands in order.
func ParseIPSet(r io.Reader, name string) (*IPSets, error) {
	st := &IPSets{Sets: map[string]*IPSet{}, Name: name}
	err := lines(r, name, func(no int, line string) error {
		bad := func(format string, args ...any) error {
			return &ParseError{Source: name, Line: no, Msg: fmt.Sprintf(format, args...)}
		}
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			return nil
		}
		cmd := strings.TrimPrefix(f[0], "-")
		need := func(n int) error {
			if len(f) < n {
				return bad("%q: too few words", short(line))
			}
			return nil
		}
		get := func(set string) (*IPSet, error) {
			s := st.Sets[set]
			if s == nil {
				return nil, bad("set %q does not exist here", short(set))
			}
			return s, nil
		}
		switch cmd {
		case "create", "n", "N":
			if err := need(3); err != nil {
				return err
			}
			if st.Sets[f[1]] != nil {
				return nil // -exist: an existing set is kept as it is
			}
			s := &IPSet{Name: f[1], Type: f[2], Family: "inet", LineNo: no}
			for i := 3; i < len(f); i++ {
				switch f[i] {
				case "family":
					if i+1 < len(f) {
						s.Family = f[i+1]
						i++
					}
				case "maxelem":
					if i+1 < len(f) {
						s.MaxElem = f[i+1]
						i++
					}
				}
			}
			st.Sets[f[1]] = s
			st.Order = append(st.Order, f[1])
		case "add", "a", "A", "del", "d", "D":
			if err := need(3); err != nil {
				return err
			}
			s, err := get(f[1])
			if err != nil {
				return err
			}
			m, err := parseMember(s, f[2], f[3:])
			if err != nil {
				return bad("%v", err)
			}
			if cmd == "add" || cmd == "a" || cmd == "A" {
				s.put(m)
			} else {
				s.del(m)
			}
		case "flush", "F":
			if len(f) == 1 {
				for _, s := range st.Sets {
					s.clear()
				}
				return nil
			}
			s, err := get(f[1])
			if err != nil {
				return err
			}
			s.clear()
		case "destroy", "x", "X":
			if len(f) == 1 {
				st.Sets, st.Order = map[string]*IPSet{}, nil
				return nil
			}
			if _, err := get(f[1]); err != nil {
				return err
			}
			delete(st.Sets, f[1])
			st.Order = slices.DeleteFunc(st.Order, func(n string) bool { return n == f[1] })
		case "swap", "w", "W":
			if err := need(3); err != nil {
				return err
			}
			a, err := get(f[1])
			if err != nil {
				return err
			}
			b, err := get(f[2])
			if err != nil {
				return err
			}
			a.Name, b.Name = b.Name, a.Name
			st.Sets[a.Name], st.Sets[b.Name] = a, b
		case "rename", "e", "E":
			if err := need(3); err != nil {
				return err
			}
			a, err := get(f[1])
			if err != nil {
				return err
			}
			if st.Sets[f[2]] != nil {
				return bad("rename %s to %s: the name is taken", f[1], f[2])
			}
			delete(st.Sets, f[1])
			a.Name = f[2]
			st.Sets[f[2]] = a
			for i, n := range st.Order {
				if n == f[1] {
					st.Order[i] = f[2]
				}
			}
		case "COMMIT":
		default:
			return bad("%q: not an ipset command (create, add, del, flush, swap, rename, destroy)", short(f[0]))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return st, nil
}

// parseMember reads one entry: an address or prefix for the hash:ip and
// hash:net types, anything else kept as written.
func parseMember(s *IPSet, v string, opts []string) (Member, error) {
	m := Member{NoMatch: slices.Contains(opts, "nomatch")}
	switch s.Type {
	case "hash:ip", "hash:net":
		p, err := parsePrefix(v)
		if err != nil {
			// a range: a-b is not a prefix; keep it as written
			if strings.Contains(v, "-") {
				m.Name = v
				return m, nil
			}
			return m, err
		}
		m.Prefix = p
	default:
		m.Name = v
	}
	return m, nil
}
