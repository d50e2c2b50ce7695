package vmlab

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/rampart-cluster/rampart/internal/realtool"
)

// applyIgnition runs the real Ignition's fetch-offline and files stages on
// config into root (the VM's own files, which the image's vmlab-init copies
// over the VM's root before systemd starts, where a node's initramfs runs
// Ignition). work is a scratch directory for Ignition's cache and state.
//
// Ignition reads SELINUXTYPE from the root's /etc/selinux/config and runs
// setfiles(8) to relabel what it wrote; the Debian image has no SELinux, so
// the file says disabled for the run (and is removed after it) and a
// setfiles that does nothing stands in.
func applyIgnition(ign, config, root, work string) error {
	if err := os.MkdirAll(filepath.Join(root, "etc", "selinux"), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(root, "etc", "selinux", "config"), []byte("SELINUX=disabled\nSELINUXTYPE=targeted\n"), 0o644); err != nil {
		return err
	}
	bin := filepath.Join(work, "ignition-bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(bin, "setfiles"), []byte("#!/bin/sh\n# vmlab: no SELinux in the VM's root, nothing to relabel\nexit 0\n"), 0o755); err != nil {
		return err
	}
	env := []string{"PATH=" + bin + string(os.PathListSeparator) + os.Getenv("PATH"), "IGNITION_CONFIG_FILE=" + config}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PATH=") && !strings.HasPrefix(kv, "IGNITION_") {
			env = append(env, kv)
		}
	}
	cache, neednet, state := filepath.Join(work, "ignition-config.json"), filepath.Join(work, "ignition-neednet"), filepath.Join(work, "ignition-state")
	for _, stage := range []string{"fetch-offline", "files"} {
		out, err := realtool.Run(env, ign, "-platform", "file", "-stage", stage, "-root", root,
			"-config-cache", cache, "-neednet", neednet, "-state-file", state, "-log-to-stdout")
		if err != nil {
			return fmt.Errorf("ignition -stage %s on %s: %v\n%s", stage, config, err, out)
		}
		if _, err := os.Stat(neednet); err == nil {
			return fmt.Errorf("ignition %s says %s needs the network:\n%s", stage, config, out)
		}
	}
	return os.RemoveAll(filepath.Join(root, "etc", "selinux"))
}
