package cli

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rampart-cluster/rampart/generator/etcd"
	"github.com/rampart-cluster/rampart/generator/gen"
	"github.com/rampart-cluster/rampart/generator/pki"
	"github.com/rampart-cluster/rampart/generator/spec"
)

// allAllowed refuses, as usage errors and before the spec is read, the
// flags recover --all does not go with.
func allAllowed(all bool, snapshot string, replace, reinstall, membershipDone bool) error {
	if !all {
		return usageError("recover: --snapshot goes with --all: it is the etcd snapshot every member restores when the whole cluster is rebuilt")
	}
	if replace || reinstall || membershipDone {
		return usageError("recover --all rebuilds every etcd member as a new cluster from a snapshot; --replace, --reinstall and --membership-done are for one member of a running cluster")
	}
	return nil
}

// recoverAll writes, for every etcd member, its final userdata with the
// snapshot restore of etcd.Restore added, after checking the snapshot and
// building every file in memory: nothing is written when one fails.
func recoverAll(cmd *cobra.Command, s *spec.Spec, state, out, snapshot string) error {
	members := etcd.Members(s)
	if len(members) == 0 {
		return usageError("recover --all: the spec has no etcd member (no role with etcd: true)")
	}
	if snapshot == "" {
		return usageError("recover --all restores the cluster from an etcd snapshot and needs one: --snapshot FILE. Take it while a member still runs, on that member, as root:\n  %s\nWithout a snapshot the data is gone: plain recover NODE for every member boots a new, empty cluster.", etcd.SnapshotCommand(s, "etcd.db"))
	}
	data, err := os.ReadFile(snapshot)
	if err != nil {
		return &exitError{code: ExitInvalid, err: fmt.Errorf("recover --all: the snapshot: %w; nothing was written", err)}
	}
	if err := etcd.CheckSnapshot(data); err != nil {
		return &exitError{code: ExitInvalid, err: fmt.Errorf("recover --all: the snapshot %s: %w; nothing was written", snapshot, err)}
	}
	if err := etcd.CheckSnapshotSize(data); err != nil {
		return &exitError{code: ExitInvalid, err: fmt.Errorf("recover --all: the snapshot %s: %w; nothing was written", snapshot, err)}
	}
	// not recover's own directory: a lone member booted with this userdata
	// would restore an old snapshot
	def := filepath.Join(state, "recover-all")
	if out == "" {
		out = def
	}
	if err := outsideTree(out, def, "--all"); err != nil {
		return err
	}
	st := pki.Open(state)
	var files []secretFile
	for _, m := range members {
		n := s.Node(m.Name)
		add, units, err := etcd.Restore(s, n, data)
		if err != nil {
			return &exitError{code: ExitInvalid, err: fmt.Errorf("recover --all: %s: %w", m.Name, err)}
		}
		for _, format := range []string{spec.OutputIgnition, spec.OutputCloudConfig} {
			if !s.Wants(format) {
				continue
			}
			final, err := gen.FinalUserdata(s, st, "node", m.Name, format)
			if err != nil {
				return &exitError{code: ExitInvalid, err: fmt.Errorf("recover --all: %s: %w", m.Name, withStateAdvice(err, state))}
			}
			restoring, err := etcd.AddToUserdata(format, final, add, units)
			if err != nil {
				return &exitError{code: ExitInvalid, err: fmt.Errorf("recover --all: %s: %w", m.Name, err)}
			}
			files = append(files, secretFile{filepath.Join(m.Name, gen.UserdataName[format]), restoring})
		}
	}
	if err := writeAllOrNothing(out, files); err != nil {
		return &exitError{code: ExitInvalid, err: fmt.Errorf("recover --all: %w; nothing was written", err)}
	}

	w := cmd.OutOrStdout()
	var names []string
	for _, m := range members {
		names = append(names, m.Name)
	}
	fmt.Fprintf(w, "# rampart recover --all: etcd of cluster %s (members %s) restored on first boot\n", s.Cluster, strings.Join(names, ", "))
	fmt.Fprintf(w, "# from %s (%d bytes, sha256 %x; its own hash checked).\n", snapshot, len(data), sha256.Sum256(data))
	fmt.Fprintf(w, "# Each member's final userdata, with its keys and the snapshot, mode 0600:\n")
	for _, f := range files {
		abs, _ := filepath.Abs(filepath.Join(out, f.path))
		fmt.Fprintf(w, "#   %s\n", abs)
	}
	majority := len(members)/2 + 1
	fmt.Fprintf(w, "# In this order:\n")
	fmt.Fprintf(w, "# 1. Stop etcd on every member that still runs (systemctl stop %s, and disable\n#    it, or power the machine off): nothing of the old cluster may serve or come back.\n", etcd.Unit)
	fmt.Fprintf(w, "# 2. Boot every member (%s) with its userdata above, on an empty %s: a\n#    machine whose disk survives must lose %s/member first (rm -rf), or it starts\n#    with its old data and is no member of the restored cluster.\n", strings.Join(names, ", "), etcd.DataDir, etcd.DataDir)
	fmt.Fprintf(w, "#    The order does not matter: on its first boot each member restores the snapshot\n#    (%s) before etcd starts, and the cluster serves once %d of %d\n#    members are up.\n", etcd.RestoreUnit, majority, len(members))
	fmt.Fprintf(w, "# 3. Then, on a member: ETCDCTL_API=3 etcdctl --endpoints=%s --cacert=%s --cert=%s --key=%s endpoint health --cluster\n", etcd.LocalClientURL(s), etcd.CAFile, etcd.ClientCert, etcd.ClientKey)
	return nil
}

// secretFile is a file of recover --all's set, by its path inside the set.
type secretFile struct {
	path string
	data []byte
}

// writeAllOrNothing writes the whole set of files (0600, directories
// 0700) into a new directory beside dir and puts it in dir's place: an
// error leaves dir as it was, and no file of an earlier set stays beside
// the new ones.
func writeAllOrNothing(dir string, files []secretFile) error {
	if err := os.MkdirAll(filepath.Dir(dir), 0o700); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), "."+filepath.Base(dir)+".new-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	for _, f := range files {
		if err := writeSecret(filepath.Join(tmp, f.path), f.data); err != nil {
			return err
		}
	}
	old := tmp + ".old"
	if err := os.Rename(dir, old); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := os.Rename(tmp, dir); err != nil {
		_ = os.Rename(old, dir)
		return err
	}
	return os.RemoveAll(old)
}
