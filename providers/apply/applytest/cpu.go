package applytest

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// CPUMeter measures the CPU time (user and system, on every core) of the
// test's process and of every process it starts after NewCPUMeter: the
// nodes' sshd, their shells and the firewall tools they run. A node of
// the lab runs on the test's own cores, so what apply costs a node in all
// (client, SSH server, remote processes) is what this meter counts. It is
// a control group of its own that the test's process moves into (cgroup
// v1's cpuacct, else cgroup v2's cpu.stat); the processes it starts are
// born in it.
type CPUMeter struct {
	dir  string
	read func() (time.Duration, error)
}

// cgroupRoots are the hierarchies tried, in order: cgroup v1's cpuacct,
// cgroup v2 alone, and cgroup v2 beside v1 (a hybrid system).
var cgroupRoots = []struct {
	mount, controller string // where it is mounted; its name in /proc/self/cgroup ("" for v2)
	v2                bool
}{
	{"/sys/fs/cgroup/cpuacct", "cpuacct", false},
	{"/sys/fs/cgroup", "", true},
	{"/sys/fs/cgroup/unified", "", true},
}

// NewCPUMeter moves the test's process into a new control group, to be
// called before the processes to measure are started. It returns an
// error, and changes nothing, where no hierarchy can be used (not root,
// no cgroup file system). At the end of the test the process moves back
// and the group is removed.
func NewCPUMeter(t testing.TB) (*CPUMeter, error) {
	t.Helper()
	var errs []error
	for _, r := range cgroupRoots {
		m, err := newCPUMeter(t, r.mount, r.controller, r.v2)
		if err == nil {
			return m, nil
		}
		errs = append(errs, err)
	}
	return nil, fmt.Errorf("no control group to measure CPU time in: %w", errors.Join(errs...))
}

func newCPUMeter(t testing.TB, mount, controller string, v2 bool) (*CPUMeter, error) {
	usage := "cpuacct.usage"
	if v2 {
		usage = "cpu.stat"
		if _, err := os.Stat(filepath.Join(mount, "cgroup.controllers")); err != nil {
			return nil, fmt.Errorf("%s: not a cgroup v2 hierarchy", mount)
		}
	} else if _, err := os.Stat(filepath.Join(mount, usage)); err != nil {
		return nil, fmt.Errorf("%s: not a cpuacct hierarchy", mount)
	}
	here, err := ownGroup(controller)
	if err != nil {
		return nil, err
	}
	parent := filepath.Join(mount, here)
	dir := filepath.Join(parent, fmt.Sprintf("rampart-applytest-%d", os.Getpid()))
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, err
	}
	pid := []byte(strconv.Itoa(os.Getpid()))
	if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), pid, 0); err != nil {
		os.Remove(dir)
		return nil, err
	}
	m := &CPUMeter{dir: dir}
	m.read = func() (time.Duration, error) { return readUsage(filepath.Join(dir, usage), v2) }
	if _, err := m.read(); err != nil {
		os.WriteFile(filepath.Join(parent, "cgroup.procs"), pid, 0)
		os.Remove(dir)
		return nil, err
	}
	t.Cleanup(func() {
		if err := os.WriteFile(filepath.Join(parent, "cgroup.procs"), pid, 0); err != nil {
			t.Logf("applytest: moving back to %s: %v", parent, err)
			return
		}
		// the nodes' processes are gone once their cleanups ran (they
		// were registered after this one); their exits may lag a little
		var err error
		for range 50 {
			if err = os.Remove(dir); err == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Logf("applytest: removing the control group %s: %v", dir, err)
	})
	return m, nil
}

// ownGroup is the test process's group in the hierarchy of controller
// ("" for cgroup v2), from /proc/self/cgroup.
func ownGroup(controller string) (string, error) {
	f, err := os.Open("/proc/self/cgroup")
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// hierarchy-ID:controller-list:path
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		if controller == "" && parts[0] == "0" && parts[1] == "" {
			return parts[2], nil
		}
		for _, c := range strings.Split(parts[1], ",") {
			if controller != "" && c == controller {
				return parts[2], nil
			}
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	return "", fmt.Errorf("/proc/self/cgroup names no group of %q", controller)
}

// readUsage reads a group's CPU time: cpuacct.usage (nanoseconds), or
// cpu.stat's usage_usec.
func readUsage(path string, v2 bool) (time.Duration, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	if !v2 {
		n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		return time.Duration(n), err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "usage_usec "); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			return time.Duration(n) * time.Microsecond, err
		}
	}
	return 0, fmt.Errorf("%s has no usage_usec", path)
}

// Used is the CPU time the group's processes have used so far (the test
// measures a span by the difference of two readings).
func (m *CPUMeter) Used() (time.Duration, error) {
	return m.read()
}
