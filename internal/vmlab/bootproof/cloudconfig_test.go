package bootproof

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/rampart-cluster/rampart/internal/vmlab"
)

// TestCloudConfig boots the DC/OS master with real cloud-init reading the
// generated cloud-config from its NoCloud seed: on the first boot cloud-init
// writes every file (content, mode, owner), enables and starts the firewall
// unit, and the firewall is active with no drift; on the second boot the
// unit loads it before the network.
func TestCloudConfig(t *testing.T) {
	t.Parallel()
	img := image(t)
	g := generate(t, "dcos-iptables")
	l := newLab(t)
	const node = "master-1"
	cc := g.userdata(t, node, "cloud-config.yaml")
	ports := []uint16{22, 80, 8080, 8201}
	began := time.Now()
	vm := vmlab.Start(t, img, l.br, vmlab.Config{Name: node, CloudConfig: cc, Addrs: vmAddrs(10), SSHFrom: l.admin.ns,
		Listen: ports[1:], BootTimeout: 8 * time.Minute})
	vm.WaitReady()
	waitCloudInit(t, vm, 10*time.Minute)
	t.Logf("first boot: cloud-init done %v after the start", time.Since(began).Round(time.Second))
	if errs := strings.TrimSpace(vm.MustSSH(`python3 -c 'import json; print(json.load(open("/var/lib/cloud/data/result.json"))["v1"]["errors"])'`)); errs != "[]" {
		t.Errorf("cloud-init reports errors: %s\n%s", errs, vm.MustSSH("cloud-init status --long; tail -n 40 /var/log/cloud-init.log"))
	}
	checkWrittenFiles(t, vm, cc)
	if out, err := vm.SSH("systemctl is-enabled rampart-firewall.service"); strings.TrimSpace(out) != "enabled" {
		t.Errorf("rampart-firewall.service is %q (%v), want enabled", strings.TrimSpace(out), err)
	}
	if u := showUnits(t, vm, "rampart-firewall.service")["rampart-firewall.service"]; u["ActiveState"] != "active" || u["Result"] != "success" {
		t.Errorf("rampart-firewall.service is %s (result %s), want active (success)", u["ActiveState"], u["Result"])
	}
	checkNoDrift(t, vm, g, node)
	checkVerdicts(t, vm, []*host{l.admin, l.member, l.world}, ports, byPolicy(g, g.role(t, node)))

	began = time.Now()
	vm.Reboot()
	t.Logf("second boot: up %v after systemctl reboot", time.Since(began).Round(time.Second))
	checkLoadedBeforeNetwork(t, vm)
	checkNoDrift(t, vm, g, node)
	checkVerdicts(t, vm, []*host{l.admin, l.member, l.world}, ports, byPolicy(g, g.role(t, node)))
	vm.Stop()
}

// waitCloudInit waits until cloud-init has run all its stages of this boot.
func waitCloudInit(t *testing.T, vm *vmlab.VM, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		out, _ := vm.SSH("cloud-init status")
		status := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(out), "status:"))
		switch status {
		case "done", "error":
			if status == "error" {
				t.Errorf("cloud-init status: error\n%s", vm.MustSSH("cloud-init status --long; tail -n 40 /var/log/cloud-init.log"))
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("cloud-init not done within %v (status %q)\n%s", timeout, status, vm.ConsoleTail(40))
		}
		time.Sleep(5 * time.Second)
	}
}

// checkWrittenFiles checks that every write_files entry of the
// cloud-config is on the VM with its content, mode and owner.
func checkWrittenFiles(t *testing.T, vm *vmlab.VM, cloudConfig string) {
	t.Helper()
	data, err := os.ReadFile(cloudConfig)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		WriteFiles []struct {
			Path        string `yaml:"path"`
			Owner       string `yaml:"owner"`
			Permissions string `yaml:"permissions"`
			Content     string `yaml:"content"`
			Encoding    string `yaml:"encoding"`
		} `yaml:"write_files"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.WriteFiles) == 0 {
		t.Fatalf("%s has no write_files", cloudConfig)
	}
	var script strings.Builder
	for _, f := range doc.WriteFiles {
		if f.Encoding != "" {
			t.Fatalf("%s: encoding %q: this test compares plain content only", f.Path, f.Encoding)
		}
		fmt.Fprintf(&script, "stat -c '%%n %%a %%U:%%G' %s && sha256sum <%s;", f.Path, f.Path)
	}
	out, err := vm.SSH(script.String())
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2*len(doc.WriteFiles) {
		t.Fatalf("stat and sha256sum of %d files gave %d lines:\n%s", len(doc.WriteFiles), len(lines), out)
	}
	for i, f := range doc.WriteFiles {
		mode, err := strconv.ParseUint(f.Permissions, 8, 32)
		if err != nil {
			t.Fatalf("%s: permissions %q: %v", f.Path, f.Permissions, err)
		}
		sum := sha256.Sum256([]byte(f.Content))
		want := fmt.Sprintf("%s %o %s", f.Path, mode, f.Owner)
		if lines[2*i] != want {
			t.Errorf("written file: %q, want %q", lines[2*i], want)
		}
		if got := strings.Fields(lines[2*i+1])[0]; got != hex.EncodeToString(sum[:]) {
			t.Errorf("%s: sha256 %s on the VM, %x in the cloud-config", f.Path, got, sum)
		}
	}
	t.Logf("cloud-init wrote all %d files of the cloud-config, content, mode and owner", len(doc.WriteFiles))
}
