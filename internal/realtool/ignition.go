package realtool

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// SelinuxConfig is the file ApplyIgnition puts in the root it makes: the
// node image's, which Ignition reads; a test that compares what Ignition
// wrote leaves it out.
const SelinuxConfig = "/etc/selinux/config"

// ApplyIgnition runs the real Ignition's fetch-offline and files
// stages on config into a new, empty root, as in a node's initramfs, and
// returns the root and the files where the setfiles stand-in recorded its
// call.
func ApplyIgnition(t testing.TB, ign, config string) (root, argsFile, pathsFile string) {
	t.Helper()
	work := t.TempDir()
	root = filepath.Join(work, "root")
	// Ignition reads SELINUXTYPE from the root's /etc/selinux/config to find
	// the file contexts it relabels with (internal/exec/util/selinux.go); a
	// node image ships this file, the empty test root does not.
	if err := os.MkdirAll(filepath.Join(root, "etc", "selinux"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, SelinuxConfig), []byte("SELINUX=disabled\nSELINUXTYPE=targeted\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The programs the files stage runs for this config: setfiles(8), to
	// relabel what it wrote. Ignition is built with relabelling on (the
	// default, as on Fedora CoreOS: distro.selinuxRelabel) and SELINUX=disabled
	// does not turn it off. This host's kernel has no SELinux, so there is no
	// real relabelling to do and Debian has no setfiles to do it with: a
	// stand-in first on PATH records the call instead, and the test checks
	// that the call covers every file written. (systemctl --root, the other
	// program of this stage, runs only for units with enabled: false, to
	// disable them; that would be the real, installed systemctl.)
	bin := filepath.Join(work, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	argsFile, pathsFile = filepath.Join(work, "setfiles.args"), filepath.Join(work, "setfiles.paths")
	standin := fmt.Sprintf("#!/bin/sh\n# setfiles stand-in of realtool.ApplyIgnition: records the call\nprintf '%%s\\n' \"$@\" >%s\ncat >%s\n", quote(argsFile), quote(pathsFile))
	if err := os.WriteFile(filepath.Join(bin, "setfiles"), []byte(standin), 0o755); err != nil {
		t.Fatal(err)
	}
	env := []string{"PATH=" + bin + string(os.PathListSeparator) + os.Getenv("PATH"), "IGNITION_CONFIG_FILE=" + config}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PATH=") && !strings.HasPrefix(kv, "IGNITION_") {
			env = append(env, kv)
		}
	}
	cache, neednet, state := filepath.Join(work, "config.json"), filepath.Join(work, "neednet"), filepath.Join(work, "state")
	for _, stage := range []string{"fetch-offline", "files"} {
		out, err := Run(env, ign, "-platform", "file", "-stage", stage, "-root", root,
			"-config-cache", cache, "-neednet", neednet, "-state-file", state, "-log-to-stdout")
		if err != nil {
			t.Fatalf("ignition -stage %s on %s: %v\n%s", stage, config, err, out)
		}
		if stage == "fetch-offline" {
			// A config fetch-offline cannot complete without the network makes
			// it write the neednet flag; a rampart config is wholly inline.
			if _, err := os.Stat(neednet); err == nil {
				t.Fatalf("ignition fetch-offline says %s needs the network:\n%s", config, out)
			}
		}
	}
	return root, argsFile, pathsFile
}

// quote quotes s for sh.
func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
