package boot

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// TestDropinsAndWithheld: a unit the OS ships gets only its drop-ins
// written (and is enabled); withheld files are named in the documents'
// comments and nowhere else.
func TestDropinsAndWithheld(t *testing.T) {
	m := &Machine{Kind: "node", Name: "n1", Cluster: "c", Hostname: "n1",
		Files: []File{{Path: "/etc/ssl/certs/etcd/server.crt", Mode: 0o644, Contents: "CERT\n"}},
		Units: []Unit{
			{Name: "etcd-member.service", Enabled: true, Dropins: []Dropin{{Name: "20-x.conf", Contents: "[Service]\nEnvironment=\"A=b\"\n"}}},
			{Name: "own.service", Enabled: false, Contents: "[Service]\nExecStart=/bin/true\n"},
		},
		Withheld: []File{{Path: "/etc/ssl/certs/etcd/server.key", Mode: 0o600, Contents: "SECRET"}},
	}
	var paths []string
	for _, f := range Rootfs(m) {
		paths = append(paths, f.Path)
		if strings.Contains(f.Contents, "SECRET") {
			t.Errorf("%s carries a withheld file's contents", f.Path)
		}
	}
	want := "/etc/ssl/certs/etcd/server.crt /etc/systemd/system-preset/20-ignition.preset /etc/systemd/system/etcd-member.service.d/20-x.conf /etc/systemd/system/own.service"
	if got := strings.Join(paths, " "); got != want {
		t.Errorf("rootfs:\n%s\nwant\n%s", got, want)
	}
	for _, f := range Rootfs(m) {
		if f.Path == PresetPath && f.Contents != "enable etcd-member.service\n" {
			t.Errorf("preset %q", f.Contents)
		}
	}
	bu, err := Butane(m, Target{Variant: "flatcar", Version: "1.1.0"})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"#   /etc/ssl/certs/etcd/server.key (0600)", "    - name: etcd-member.service\n      enabled: true\n      dropins:\n        - name: 20-x.conf\n", "    - name: own.service\n      contents: |\n"} {
		if !strings.Contains(bu, s) {
			t.Errorf("butane lacks %q:\n%s", s, bu)
		}
	}
	if strings.Contains(bu, "SECRET") {
		t.Error("butane carries a withheld file's contents")
	}
	if _, err := Ignition(bu, Target{Variant: "flatcar", Version: "1.1.0"}); err != nil {
		t.Errorf("butane with drop-ins does not translate: %v", err)
	}
	cc, err := CloudConfig(m)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"#   /etc/ssl/certs/etcd/server.key (0600)", "  - path: /etc/systemd/system/etcd-member.service.d/20-x.conf\n", "  - [systemctl, enable, --now, etcd-member.service]\n"} {
		if !strings.Contains(cc, s) {
			t.Errorf("cloud-config lacks %q:\n%s", s, cc)
		}
	}
	if strings.Contains(cc, "SECRET") || strings.Contains(cc, "enable, --now, own.service") {
		t.Error("cloud-config carries a withheld file or enables a disabled unit")
	}
}

// TestEveryVersionTranslates: each Butane version rampart accepts translates
// to the Ignition spec version IgnitionVersion names, checked by Ignition's
// parser of that version (fcos 1.7.0 to Ignition 3.6.0).
func TestEveryVersionTranslates(t *testing.T) {
	m := &Machine{Kind: "role", Name: "web", Cluster: "c",
		Files: []File{{Path: "/etc/x", Mode: 0o644, Contents: "x\n"}},
		Units: []Unit{{Name: "x.service", Enabled: true, Contents: "[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n"}}}
	for target, want := range IgnitionVersion {
		bu, err := Butane(m, target)
		if err != nil {
			t.Fatal(err)
		}
		ign, err := Ignition(bu, target)
		if err != nil {
			t.Errorf("%s %s: %v", target.Variant, target.Version, err)
			continue
		}
		if !strings.Contains(string(ign), `"version": "`+want+`"`) {
			t.Errorf("%s %s: not Ignition %s:\n%s", target.Variant, target.Version, want, ign)
		}
	}
}

// TestUsers: the users go into Butane's passwd.users (Ignition's
// sshAuthorizedKeys and groups), cloud-init's users and coreos-cloudinit's
// users (ssh-authorized-keys), keys quoted whole.
func TestUsers(t *testing.T) {
	key := `ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIL68cWSOHjnLClWFQRvzgFlT8CBWhLUOd6lF871eA8XX "quoted" comment`
	m := &Machine{Kind: "role", Name: "web", Cluster: "c",
		Units: []Unit{{Name: "x.service", Enabled: true, Contents: "[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n"}},
		Users: []User{{Name: "core", SSHAuthorizedKeys: []string{key}}, {Name: "ops", Groups: []string{"docker", "sudo"}}}}
	target := Target{Variant: "flatcar", Version: "1.1.0"}
	bu, err := Butane(m, target)
	if err != nil {
		t.Fatal(err)
	}
	ign, err := Ignition(bu, target)
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Passwd struct {
			Users []struct {
				Name              string
				SSHAuthorizedKeys []string
				Groups            []string
			}
		}
	}
	if err := json.Unmarshal(ign, &cfg); err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprintf("%+v", cfg.Passwd.Users)
	if want := fmt.Sprintf("%+v", []struct {
		Name              string
		SSHAuthorizedKeys []string
		Groups            []string
	}{{"core", []string{key}, nil}, {"ops", nil, []string{"docker", "sudo"}}}); got != want {
		t.Errorf("Ignition's users: %s, want %s", got, want)
	}
	for flavor, want := range map[string]string{
		FlavorCloudInit: "users:\n  - name: core\n    ssh_authorized_keys:\n      - " + yamlString(key) + "\n  - name: ops\n    groups: [docker, sudo]\n",
		FlavorCoreOS:    "users:\n  - name: core\n    ssh-authorized-keys:\n      - " + yamlString(key) + "\n  - name: ops\n    groups:\n      - docker\n      - sudo\n",
	} {
		m.Flavor = flavor
		cc, err := CloudConfig(m)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(cc, want) {
			t.Errorf("%s: cloud-config lacks\n%s\n%s", flavor, want, cc)
		}
	}
}
