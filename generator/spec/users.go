package spec

import (
	"regexp"
	"strings"

	"github.com/rampart-cluster/rampart/generator/report"
	"golang.org/x/crypto/ssh"
	"gopkg.in/yaml.v3"
)

// User is a login account every machine of its scope gets: a user of the
// top-level users list is on every machine, a role's on the role's machines
// (its nodes, its pools' members, its etcd members).
type User struct {
	Name string // a login name: a-z or _ first, then a-z, 0-9, _ and -, 32 characters at most
	// SSHAuthorizedKeys are the user's SSH public keys, one authorized_keys
	// line each, as written; every one parses (ssh.ParseAuthorizedKey).
	SSHAuthorizedKeys []string
	// Groups are supplementary groups the user is added to; they must exist
	// on the image (none by default).
	Groups []string
	Pos    Pos // where the list item was written
}

// userName is what useradd accepts on both images (and what cloud-init and
// coreos-cloudinit pass to it): no upper case, no dots.
var userName = regexp.MustCompile(`^[a-z_][a-z0-9_-]{0,31}$`)

// users decodes a users list (the top-level one, or a role's).
func (d *decoder) users(n *yaml.Node, path report.Path) []User {
	var out []User
	seen := map[string]int{}
	d.list(n, path, func(i int, item *yaml.Node) {
		ipath := index(path, i)
		u := User{Pos: d.pos(item)}
		var nameNode *yaml.Node
		ok := true
		d.mapping(item, ipath,
			field{"name", func(_, v *yaml.Node) {
				nameNode = v
				s, sok := d.str(v, join(ipath, "name"))
				switch {
				case !sok:
					ok = false
				case !userName.MatchString(s):
					d.errorf(v, join(ipath, "name"), msgUserName, s)
					ok = false
				default:
					u.Name = s
				}
			}},
			field{"ssh_authorized_keys", func(_, v *yaml.Node) {
				kpath := join(ipath, "ssh_authorized_keys")
				keys := map[string]int{}
				d.list(v, kpath, func(j int, k *yaml.Node) {
					key, kok := d.sshKey(k, index(kpath, j))
					if !kok {
						ok = false
						return
					}
					if line, dup := keys[key]; dup {
						d.errorf(k, index(kpath, j), msgKeyListedTwice, line)
						ok = false
						return
					}
					keys[key] = k.Line
					u.SSHAuthorizedKeys = append(u.SSHAuthorizedKeys, k.Value)
				})
			}},
			field{"groups", func(_, v *yaml.Node) {
				gpath := join(ipath, "groups")
				groups := map[string]int{}
				d.list(v, gpath, func(j int, g *yaml.Node) {
					s, gok := d.str(g, index(gpath, j))
					switch {
					case !gok:
						ok = false
					case !userName.MatchString(s):
						d.errorf(g, index(gpath, j), msgGroupName, s)
						ok = false
					case groups[s] != 0:
						d.errorf(g, index(gpath, j), msgListedTwice, s, groups[s])
						ok = false
					default:
						groups[s] = g.Line
						u.Groups = append(u.Groups, s)
					}
				})
			}},
		)
		if item.Kind != yaml.MappingNode {
			return
		}
		if nameNode == nil {
			d.errorf(item, ipath, msgUserWithoutName)
			return
		}
		if u.Name == "" {
			return
		}
		if line, dup := seen[u.Name]; dup {
			d.errorf(nameNode, join(ipath, "name"), msgUserTwice, u.Name, line)
			return
		}
		seen[u.Name] = nameNode.Line
		if ok {
			out = append(out, u)
		}
	})
	return out
}

// sshKey checks one authorized_keys line: exactly one public key that
// golang.org/x/crypto/ssh parses, options allowed, nothing after it. It
// returns the key's wire form, to find the same key written twice.
func (d *decoder) sshKey(n *yaml.Node, path report.Path) (string, bool) {
	s, ok := d.str(n, path)
	if !ok {
		return "", false
	}
	if strings.ContainsAny(s, "\r\n") {
		d.errorf(n, path, msgSSHKeyLines)
		return "", false
	}
	key, _, _, rest, err := ssh.ParseAuthorizedKey([]byte(s))
	if err != nil {
		d.errorf(n, path, msgSSHKey, abbreviate(s), err)
		return "", false
	}
	if len(rest) != 0 {
		d.errorf(n, path, msgSSHKeyLines)
		return "", false
	}
	return string(key.Marshal()), true
}

// abbreviate shortens a long value for a message.
func abbreviate(s string) string {
	if len(s) <= 40 {
		return s
	}
	return s[:37] + "..."
}

// checkUsers reports a user a role gives that the top-level list gives
// too: a machine's users are each named once, with no merging.
func (d *decoder) checkUsers(s *Spec, r *raw) {
	top := map[string]User{}
	for _, u := range s.Users {
		top[u.Name] = u
	}
	for _, rr := range r.roles {
		for i, u := range rr.users {
			if first, dup := top[u.Name]; dup {
				d.add(msgRoleUserIsTopUser.At(report.At("roles", rr.name, "users", i), u.Pos, u.Name, first.Pos.Line))
			}
		}
	}
}

// UsersOf returns the users of a role's machines: the top-level users,
// then the role's own, in spec order.
func (s *Spec) UsersOf(role string) []User {
	out := append([]User(nil), s.Users...)
	if r := s.Role(role); r != nil {
		out = append(out, r.Users...)
	}
	return out
}
