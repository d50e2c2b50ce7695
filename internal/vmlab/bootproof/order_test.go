package bootproof

import (
	"strconv"
	"strings"
	"testing"

	"github.com/rampart-cluster/rampart/internal/vmlab"
)

// unitTimes are the properties systemd keeps of a unit in this boot.
type unitTimes map[string]string

// showUnits asks the VM's systemd for the state and monotonic timestamps
// (microseconds since boot) of each unit.
func showUnits(t *testing.T, vm *vmlab.VM, units ...string) map[string]unitTimes {
	t.Helper()
	out := vm.MustSSH("systemctl show -p Id,ActiveState,Result,InactiveExitTimestampMonotonic,ActiveEnterTimestampMonotonic " + strings.Join(units, " "))
	got := map[string]unitTimes{}
	for _, block := range strings.Split(strings.TrimSpace(out), "\n\n") {
		u := unitTimes{}
		for _, line := range strings.Split(block, "\n") {
			if k, v, ok := strings.Cut(line, "="); ok {
				u[k] = v
			}
		}
		got[u["Id"]] = u
	}
	for _, name := range units {
		if got[name] == nil {
			t.Fatalf("systemctl show says nothing of %s:\n%s", name, out)
		}
	}
	return got
}

// usec reads a monotonic timestamp property; 0 means it never happened.
func (u unitTimes) usec(t *testing.T, key string) int64 {
	t.Helper()
	v, err := strconv.ParseInt(u[key], 10, 64)
	if err != nil {
		t.Fatalf("%s of %s: %q: %v", key, u["Id"], u[key], err)
	}
	return v
}

// checkLoadedBeforeNetwork checks, from the VM's systemd's own timestamps
// of this boot, that rampart-firewall.service is active and had finished
// (oneshot: active means its script exited 0) before network-pre.target was
// reached and before systemd-networkd, which configures the addresses,
// started.
func checkLoadedBeforeNetwork(t *testing.T, vm *vmlab.VM) {
	t.Helper()
	const fw, pre, networkd = "rampart-firewall.service", "network-pre.target", "systemd-networkd.service"
	u := showUnits(t, vm, fw, pre, networkd)
	if u[fw]["ActiveState"] != "active" || u[fw]["Result"] != "success" {
		t.Fatalf("%s is %s (result %s), want active (success); its journal:\n%s", fw, u[fw]["ActiveState"], u[fw]["Result"],
			vm.MustSSH("journalctl -b --no-pager -u "+fw))
	}
	done := u[fw].usec(t, "ActiveEnterTimestampMonotonic")
	preAt := u[pre].usec(t, "ActiveEnterTimestampMonotonic")
	netStart := u[networkd].usec(t, "InactiveExitTimestampMonotonic")
	if done == 0 || preAt == 0 || netStart == 0 {
		t.Fatalf("a unit did not run in this boot: %s active at %dµs, %s at %dµs, %s started at %dµs", fw, done, pre, preAt, networkd, netStart)
	}
	if done > preAt || done > netStart {
		t.Errorf("the firewall was loaded after the network began: %s finished at %dµs, %s reached at %dµs, %s started at %dµs",
			fw, done, pre, preAt, networkd, netStart)
	}
	// How long the boot took, for the log (a boot still starting units,
	// cloud-init's, has no total yet).
	took, err := vm.SSH("systemd-analyze time")
	if err != nil {
		took = "boot not finished yet"
	}
	t.Logf("boot order: %s finished at %.2fs, %s at %.2fs, %s started at %.2fs (monotonic); %s",
		fw, float64(done)/1e6, pre, float64(preAt)/1e6, networkd, float64(netStart)/1e6,
		strings.TrimSpace(strings.SplitN(took, "\n", 2)[0]))
}
