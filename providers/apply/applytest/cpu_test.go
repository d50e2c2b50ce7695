package applytest

import (
	"os"
	"os/exec"
	"testing"

	"github.com/rampart-cluster/rampart/internal/realtool"
)

// TestCPUMeterCountsChildren: in each hierarchy the machine has, a child
// process started after the meter burns CPU while the test waits for it;
// the meter's reading grows by at least most of the CPU time the kernel
// reports for the child (its rusage), so the nodes' processes are
// counted, not only the test's own.
func TestCPUMeterCountsChildren(t *testing.T) {
	realtool.NeedRoot(t, "it makes control groups")
	tried := 0
	for _, r := range cgroupRoots {
		t.Run(r.mount, func(t *testing.T) {
			m, err := newCPUMeter(t, r.mount, r.controller, r.v2)
			if err != nil {
				t.Skipf("%s: %v", r.mount, err)
			}
			tried++
			before, err := m.Used()
			if err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command("sh", "-c", "i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done")
			cmd.Stderr = os.Stderr
			if err := cmd.Run(); err != nil {
				t.Fatal(err)
			}
			after, err := m.Used()
			if err != nil {
				t.Fatal(err)
			}
			child := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
			if child <= 0 {
				t.Fatalf("the child used no CPU time (%v): the test shows nothing", child)
			}
			if got := after - before; got < child*8/10 {
				t.Errorf("the meter grew by %v while a child used %v: the child is not counted", got, child)
			}
			t.Logf("meter %v, child %v", after-before, child)
		})
	}
	if tried == 0 {
		realtool.Unavailable(t, "no control group hierarchy to measure CPU time in")
	}
}
