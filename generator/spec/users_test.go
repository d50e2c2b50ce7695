package spec_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/rampart-cluster/rampart/generator/spec"
)

// Two real public keys (ssh-keygen), whose private halves were thrown away.
const (
	testKeyEd25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIL68cWSOHjnLClWFQRvzgFlT8CBWhLUOd6lF871eA8XX ops@example"
	testKeyECDSA   = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBNnWu/Y6UM7nmPqNg6jTYvbrf5vwDkv0Eey8ilxqgYOo+DTjN+CjJ/61OWgTlLWPLOjIO8fSDZHU806uN2jDU6g= admin@example"
)

// TestUsers: the top-level users are every machine's, a role's are added to
// them on its machines (a pool's role too); groups default to none.
func TestUsers(t *testing.T) {
	s := mustParse(t, `version: 1
cluster: c
users:
  - name: core
    ssh_authorized_keys: ["`+testKeyEd25519+`", 'no-port-forwarding `+testKeyECDSA+`']
roles:
  web: {zone: public}
  db:
    zone: private
    users:
      - {name: dba, ssh_authorized_keys: ["`+testKeyECDSA+`"], groups: [docker, wheel]}
pools:
  - {role: db, cidrs: [10.0.0.0/24]}
`)
	core := spec.User{Name: "core", SSHAuthorizedKeys: []string{testKeyEd25519, "no-port-forwarding " + testKeyECDSA}, Pos: spec.Pos{File: "t.yaml", Line: 4, Col: 5}}
	dba := spec.User{Name: "dba", SSHAuthorizedKeys: []string{testKeyECDSA}, Groups: []string{"docker", "wheel"}, Pos: spec.Pos{File: "t.yaml", Line: 11, Col: 9}}
	if got := s.UsersOf("web"); !reflect.DeepEqual(got, []spec.User{core}) {
		t.Errorf("web's users: %+v", got)
	}
	if got := s.UsersOf("db"); !reflect.DeepEqual(got, []spec.User{core, dba}) {
		t.Errorf("db's users: %+v", got)
	}
	if got := mustParse(t, dcosZones).UsersOf("master"); len(got) != 0 {
		t.Errorf("a spec without users gives users %+v", got)
	}
}

// TestUserErrors: every problem of a users list, at the list item or value
// it is about.
func TestUserErrors(t *testing.T) {
	got := problems(t, `version: 1
cluster: c
users:
  - name: core
    ssh_authorized_keys:
      - `+testKeyEd25519+`
      - ssh-ed25519 AAAAbroken
      - "`+testKeyECDSA+`\n`+testKeyEd25519+`"
      - `+testKeyEd25519+`
    groups: [sudo, Sudo, sudo]
  - {name: Bad}
  - {ssh_authorized_keys: []}
  - {name: ops}
  - {name: ops}
roles:
  web:
    zone: public
    users:
      - {name: ops}
      - {name: ada, shell: /bin/zsh}
`)
	want := []string{
		`t.yaml:7:9: users[0].ssh_authorized_keys[1]: "ssh-ed25519 AAAAbroken" is not an SSH public key (ssh: no key found; last parsing error for ignored line: illegal base64 data at input byte 8); write one line of authorized_keys, such as "ssh-ed25519 AAAA... me@laptop"`,
		`t.yaml:8:9: users[0].ssh_authorized_keys[2]: write one key per list item: this one holds more than one line`,
		`t.yaml:9:9: users[0].ssh_authorized_keys[3]: this key is listed twice (first at line 6)`,
		`t.yaml:10:20: users[0].groups[1]: "Sudo" is not a group name: a-z or _ first, then a-z, 0-9, _ and -, 32 characters at most`,
		`t.yaml:10:26: users[0].groups[2]: sudo is listed twice (first at line 10)`,
		`t.yaml:11:12: users[1].name: "Bad" is not a login name: a-z or _ first, then a-z, 0-9, _ and -, 32 characters at most`,
		`t.yaml:12:5: users[2]: a user needs a name`,
		`t.yaml:14:12: users[4].name: user "ops" is given twice (first at line 13); give each user once, with all its keys and groups`,
		`t.yaml:19:9: roles.web.users[0]: user "ops" is also in the top-level users (line 13), which every machine gets; give each user once, with all its keys and groups`,
		`t.yaml:20:21: roles.web.users[1]: unknown key "shell" (expected one of: name, ssh_authorized_keys, groups)`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
