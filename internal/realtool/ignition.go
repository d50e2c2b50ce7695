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

// ImageAccounts are the account files ApplyIgnition puts in the root, as a
// Flatcar or Fedora CoreOS image has them (root and core, the groups
// wheel, sudo and docker): Ignition's files stage creates and changes users
// in them with useradd and usermod --root. A test that compares what
// Ignition wrote leaves them out (and the lock file the tools leave), and
// the home directories, which hold the users' keys.
var ImageAccounts = map[string]string{
	"/etc/passwd":  "root:x:0:0:root:/root:/bin/bash\ncore:x:500:500:Core Admin:/home/core:/bin/bash\n",
	"/etc/group":   "root:x:0:\nwheel:x:10:root,core\nsudo:x:150:core\ndocker:x:233:core\ncore:x:500:\n",
	"/etc/shadow":  "root:*:19000:0:99999:7:::\ncore:*:19000:0:99999:7:::\n",
	"/etc/gshadow": "root:*::\nwheel:*::root,core\nsudo:!::core\ndocker:!::core\ncore:!::\n",
}

// AccountLock is the lock file useradd and usermod leave in /etc.
const AccountLock = "/etc/.pwd.lock"

// seedAccounts writes ImageAccounts and core's home into root.
func seedAccounts(t testing.TB, root string) {
	t.Helper()
	for p, data := range ImageAccounts {
		mode := os.FileMode(0o644)
		if strings.Contains(p, "shadow") {
			mode = 0o600
		}
		if err := os.WriteFile(filepath.Join(root, p), []byte(data), mode); err != nil {
			t.Fatal(err)
		}
	}
	home := filepath.Join(root, "home", "core")
	if err := os.MkdirAll(home, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(home, 500, 500); err != nil {
		t.Fatal(err)
	}
}

// ApplyIgnition runs the real Ignition's fetch-offline and files
// stages on config into a new root that holds only the image's account
// files (ImageAccounts) and SELinux config, as in a node's initramfs, and
// returns the root and the files where the setfiles stand-in recorded its
// call.
func ApplyIgnition(t testing.TB, ign, config string) (root, argsFile, pathsFile string) {
	t.Helper()
	work := t.TempDir()
	root = filepath.Join(work, "root")
	// Ignition writes a user's keys as that user (core is uid 500): the
	// directories down to the root must let others through, and t.TempDir
	// makes them 0700.
	for _, d := range []string{filepath.Dir(work), work} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// Ignition reads SELINUXTYPE from the root's /etc/selinux/config to find
	// the file contexts it relabels with (internal/exec/util/selinux.go); a
	// node image ships this file, the empty test root does not.
	if err := os.MkdirAll(filepath.Join(root, "etc", "selinux"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, SelinuxConfig), []byte("SELINUX=disabled\nSELINUXTYPE=targeted\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	seedAccounts(t, root)
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
