package cli

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/rampart-cluster/rampart/generator/boot"
	"github.com/rampart-cluster/rampart/generator/etcd"
	"github.com/rampart-cluster/rampart/generator/gen"
	"github.com/rampart-cluster/rampart/internal/realtool"
)

// restoreLabSpec is the spec of the total-loss test: three members on
// 127.0.0.21-23 (other tests use 127.0.0.1-4), named so that lab.addr
// finds their addresses.
const restoreLabSpec = `version: 1
cluster: etcd-lab
os: {variant: flatcar, version: 1.1.0}
outputs: [ignition, cloud-config]
profile: none
roles:
  etcd: {zone: private, etcd: true}
nodes:
  - {name: e21, role: etcd, addresses: [127.0.0.21]}
  - {name: e22, role: etcd, addresses: [127.0.0.22]}
  - {name: e23, role: etcd, addresses: [127.0.0.23]}
etcd: {client_port: %d, peer_port: %d}
`

// flatcarEtcdEnv is what `systemctl show --property=Environment --value
// etcd-member.service` prints on a Flatcar member whose drop-in names no
// image: the Environment= lines of Flatcar's own unit (its release's tag).
const flatcarEtcdEnv = "ETCD_IMAGE_URL=quay.io/coreos/etcd ETCD_IMAGE_TAG=v3.5.16 ETCD_NAME=%m ETCD_USER=etcd ETCD_DATA_DIR=/var/lib/etcd ETCD_SSL_DIR=/etc/ssl/certs"

// TestRealEtcdTotalLoss: a three-member cluster with known keys is
// snapshotted, stopped and its data deleted; `recover --all --snapshot`
// refuses to run without a snapshot or with a corrupt one (writing
// nothing), then writes each member's userdata. Each member's files are
// what the real Ignition writes from it; its restore unit runs as systemd
// would run it (its condition, then each Exec line as written, with the
// member's paths under its root, the container runtime and systemctl
// stood in for: the runtime runs Debian's etcdctl 3.4 with the arguments
// the unit gives etcdutl), then etcd starts with the generated environment.
// The cluster is healthy with three members and every key, and the
// restore does nothing once the data is there. The Fedora CoreOS userdata
// of a member restores the same way, with podman and etcd.image; the
// cloud-config of both flavours carries the restore.
func TestRealEtcdTotalLoss(t *testing.T) {
	t.Parallel() // its own addresses, ports, directories and processes
	lab := newEtcdLab(t, []string{"e21", "e22", "e23"})
	writeTestFile(t, lab.spec, []byte(fmt.Sprintf(restoreLabSpec, lab.clientPort, lab.peerPort)), 0o644)
	if code, stdout, stderr := run("gen", "-f", lab.spec, "-o", lab.out, "--state", lab.state); code != 0 {
		t.Fatalf("rampart gen: exit %d\n%s%s", code, stdout, stderr)
	}
	for _, n := range lab.members() {
		lab.start(t, n, lab.memberEnv(t, n, filepath.Join(lab.state, gen.UserdataPath("node", n, "ignition")), "new"))
	}
	for _, n := range lab.members() {
		lab.waitHealthy(t, n, lab.addr(n))
	}
	keys := map[string]string{"rampart/a": "before-the-loss", "rampart/b": "second key", "other/c": "3"}
	for k, v := range keys {
		lab.etcdctl0(t, "put", k, v)
	}
	snapshot := filepath.Join(lab.dir, "etcd.db")
	lab.etcdctl0(t, "--endpoints=https://127.0.0.22:"+fmt.Sprint(lab.clientPort), "snapshot", "save", snapshot)

	// The loss: every member stopped, its data gone.
	for _, n := range lab.members() {
		lab.procs[n].stop(t)
		if err := os.RemoveAll(lab.procs[n].dataDir); err != nil {
			t.Fatal(err)
		}
	}

	recovered := filepath.Join(lab.dir, "recovered")
	// Refused: no snapshot, a corrupt one (one byte changed), one copied
	// without its hash. Nothing is written.
	data := readOrFatal(t, snapshot)
	corrupt := append([]byte(nil), data...)
	corrupt[len(corrupt)/2] ^= 0x01
	writeTestFile(t, filepath.Join(lab.dir, "corrupt.db"), corrupt, 0o600)
	writeTestFile(t, filepath.Join(lab.dir, "nohash.db"), data[:len(data)-32], 0o600)
	for _, c := range []struct {
		args []string
		code int
		says string
	}{
		{nil, ExitUsage, "needs one: --snapshot FILE"},
		{[]string{"--snapshot", filepath.Join(lab.dir, "corrupt.db")}, ExitInvalid, "does not match its contents: the snapshot is corrupt; nothing was written"},
		{[]string{"--snapshot", filepath.Join(lab.dir, "nohash.db")}, ExitInvalid, "not the size of an etcd snapshot with its sha256"},
		{[]string{"--snapshot", filepath.Join(lab.dir, "missing.db")}, ExitInvalid, "no such file"},
	} {
		args := append([]string{"recover", "--all", "-f", lab.spec, "--state", lab.state, "-o", recovered}, c.args...)
		code, stdout, stderr := run(args...)
		if code != c.code || !strings.Contains(stderr, c.says) {
			t.Errorf("%v: exit %d, want %d saying %q\n%s%s", args, code, c.code, c.says, stdout, stderr)
		}
		if _, err := os.Stat(recovered); !os.IsNotExist(err) {
			t.Fatalf("%v wrote %s (%v)", args, recovered, err)
		}
	}

	code, plan, stderr := run("recover", "--all", "-f", lab.spec, "--state", lab.state, "-o", recovered, "--snapshot", snapshot)
	if code != 0 {
		t.Fatalf("recover --all: exit %d\n%s%s", code, plan, stderr)
	}
	for _, want := range []string{"1. Stop etcd on every member", "2. Boot every member (e21, e22, e23)", "2 of 3", "its own hash checked"} {
		if !strings.Contains(plan, want) {
			t.Errorf("recover --all does not say %q:\n%s", want, plan)
		}
	}

	bin := t.TempDir()
	var e21unit string // e21's restore unit as Ignition wrote it
	for _, n := range lab.members() {
		config := filepath.Join(recovered, n, "ignition.json")
		for _, f := range []string{config, filepath.Join(recovered, n, "cloud-config.yaml")} {
			if st, err := os.Stat(f); err != nil || st.Mode().Perm() != 0o600 {
				t.Errorf("%s: %v, want mode 0600", f, err)
			}
		}
		root, _, _ := realtool.ApplyIgnition(t, lab.ign, config)
		if got := readOrFatal(t, filepath.Join(root, etcd.SnapshotFile)); !bytes.Equal(got, data) {
			t.Errorf("%s: Ignition wrote a snapshot of %d bytes, not the %d taken", n, len(got), len(data))
		}
		if st, err := os.Stat(filepath.Join(root, etcd.SnapshotFile)); err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: %s: %v, want mode 0600", n, etcd.SnapshotFile, err)
		}
		dropin := string(readOrFatal(t, filepath.Join(root, boot.DropinPath(etcd.Unit, etcd.RestoreDropin))))
		if !strings.Contains(dropin, "\nRequires="+etcd.RestoreUnit+"\n") || !strings.Contains(dropin, "\nAfter="+etcd.RestoreUnit+"\n") {
			t.Errorf("%s: etcd-member's restore drop-in does not require and follow %s:\n%s", n, etcd.RestoreUnit, dropin)
		}
		unit := string(readOrFatal(t, filepath.Join(root, etcd.RestoreUnitPath)))
		if n == "e21" {
			e21unit = unit
			// systemd's own parser accepts it.
			dir := t.TempDir()
			writeTestFile(t, filepath.Join(dir, etcd.RestoreUnit), []byte(unit), 0o644)
			if out, err := realtool.Run(nil, realtool.Tool(t, "systemd-analyze", "systemd"), "verify", filepath.Join(dir, etcd.RestoreUnit)); err != nil || strings.TrimSpace(out) != "" {
				t.Errorf("systemd-analyze verify %s: %v\n%s", etcd.RestoreUnit, err, out)
			}
		}
		image := runRestoreUnit(t, lab, n, unit, root, bin)
		if image != "quay.io/coreos/etcd:v3.5.16" {
			t.Errorf("%s: the restore ran etcdutl of %q, want the image of Flatcar's etcd-member unit", n, image)
		}
		if _, err := os.Stat(filepath.Join(root, etcd.SnapshotFile)); !os.IsNotExist(err) {
			t.Errorf("%s: the snapshot (all of etcd's data) is still on the member after its restore: %v", n, err)
		}
		lab.start(t, n, lab.memberEnvIn(t, n, root, config, "new"))
		// Once the data is there, the unit does nothing.
		if ran := restoreConditionHolds(t, unit, root); ran {
			t.Errorf("%s: the restore unit would run again with %s/member in place", n, etcd.DataDir)
		}
	}
	for _, n := range lab.members() {
		lab.waitHealthy(t, n, lab.addr(n))
	}
	for k, v := range keys {
		if got := lab.etcdctl0(t, "get", "--print-value-only", k); strings.TrimSpace(got) != v {
			t.Errorf("after the restore %s is %q, want %q", k, got, v)
		}
	}
	list := lab.etcdctl0(t, "member", "list")
	for _, n := range lab.members() {
		if !strings.Contains(list, ", started, "+n+", https://"+lab.addr(n)+":") {
			t.Errorf("member %s is not started at its address:\n%s", n, list)
		}
	}
	if strings.Count(strings.TrimSpace(list), "\n") != 2 {
		t.Errorf("the restored cluster has not three members:\n%s", list)
	}

	// On Fedora CoreOS the restore runs in podman, from etcd.image: the
	// same restore, the unit run the same way into a new root.
	fcosSpec := filepath.Join(lab.dir, "fcos.yaml")
	const fcosImage = "registry.example.com:5000/etcd:v3.5.21"
	fcosText := strings.Replace(fmt.Sprintf(restoreLabSpec, lab.clientPort, lab.peerPort), "os: {variant: flatcar, version: 1.1.0}\noutputs: [ignition, cloud-config]", "os: {variant: fcos, version: 1.5.0}\noutputs: [ignition]", 1)
	writeTestFile(t, fcosSpec, []byte(strings.Replace(fcosText, "\netcd: {", "\netcd: {image: "+fcosImage+", ", 1)), 0o644)
	fcosOut := filepath.Join(lab.dir, "recovered-fcos")
	if code, stdout, stderr := run("recover", "--all", "-f", fcosSpec, "--state", lab.state, "-o", fcosOut, "--snapshot", snapshot); code != 0 {
		t.Fatalf("recover --all (fcos): exit %d\n%s%s", code, stdout, stderr)
	}
	fcosRoot, _, _ := realtool.ApplyIgnition(t, lab.ign, filepath.Join(fcosOut, "e22", "ignition.json"))
	fcosUnit := string(readOrFatal(t, filepath.Join(fcosRoot, etcd.RestoreUnitPath)))
	if image := runRestoreUnit(t, lab, "e22-fcos", fcosUnit, fcosRoot, bin); image != fcosImage {
		t.Errorf("fcos: the restore ran etcdutl of %q, want etcd.image %s", image, fcosImage)
	}
	if _, err := os.Stat(filepath.Join(fcosRoot, etcd.DataDir, "member", "snap", "db")); err != nil {
		t.Errorf("fcos: the restore left no database in %s/member: %v", etcd.DataDir, err)
	}

	// The cloud-config carries the same: in coreos-cloudinit's flavour
	// (Flatcar's default) the snapshot as a file, the restore unit and
	// drop-in in coreos.units; in cloud-init's, which cloud-init's schema
	// accepts, all three as files.
	checkRestoreCloudConfig(t, "coreos", filepath.Join(recovered, "e21", "cloud-config.yaml"), data, e21unit)
	ciSpec := filepath.Join(lab.dir, "cloud-init.yaml")
	writeTestFile(t, ciSpec, []byte(strings.Replace(fmt.Sprintf(restoreLabSpec, lab.clientPort, lab.peerPort), "profile: none\n", "profile: none\ncloud-config: {flavor: cloud-init}\n", 1)), 0o644)
	ciOut := filepath.Join(lab.dir, "recovered-cloud-init")
	if code, stdout, stderr := run("recover", "--all", "-f", ciSpec, "--state", lab.state, "-o", ciOut, "--snapshot", snapshot); code != 0 {
		t.Fatalf("recover --all (cloud-init flavour): exit %d\n%s%s", code, stdout, stderr)
	}
	cc := filepath.Join(ciOut, "e21", "cloud-config.yaml")
	checkRestoreCloudConfig(t, "cloud-init", cc, data, e21unit)
	if out, err := realtool.Run(nil, realtool.Tool(t, "cloud-init", "cloud-init"), "schema", "--config-file", cc); err != nil || !strings.Contains(out, "Valid cloud-config") {
		t.Errorf("cloud-init schema rejects %s (%v):\n%s", cc, err, out)
	}
}

// unitLines are the values of key in a unit file, in order.
func unitLines(unit, key string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(unit))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), key+"="); ok {
			out = append(out, v)
		}
	}
	return out
}

// rooted puts the member's paths the restore touches under root.
func rooted(s, root string) string {
	for _, dir := range []string{etcd.DataDir, etcd.SnapshotDir} {
		s = strings.ReplaceAll(s, dir, root+dir)
	}
	return s
}

// restoreConditionHolds evaluates the unit's ConditionPathExists= lines
// (all must hold, "!" negates) with the member's paths under root.
func restoreConditionHolds(t *testing.T, unit, root string) bool {
	conds := unitLines(unit, "ConditionPathExists")
	if len(conds) == 0 {
		t.Fatalf("the restore unit has no ConditionPathExists:\n%s", unit)
	}
	for _, c := range conds {
		p, negate := strings.CutPrefix(c, "!")
		_, err := os.Stat(rooted(p, root))
		if exists := err == nil; exists == negate {
			return false
		}
	}
	return true
}

// runRestoreUnit runs the restore unit of member n as systemd would: when
// its condition holds, each ExecStartPre, ExecStart and ExecStartPost in
// order, with ${VAR} of its Environment= lines and $$ expanded, words split
// at spaces outside quotes, and the member's paths under root. The
// container runtime (docker, podman) is a stand-in that checks it was told
// to run etcdutl and runs Debian's etcdctl with the same arguments instead;
// systemctl is one that prints the environment of Flatcar's etcd-member
// unit. It returns the image the runtime was given.
func runRestoreUnit(t *testing.T, lab *etcdLab, n, unit, root, bin string) string {
	t.Helper()
	if !restoreConditionHolds(t, unit, root) {
		t.Fatalf("%s: the restore unit's condition does not hold on an empty data directory", n)
	}
	imageLog := filepath.Join(root, "runtime-image")
	runtime := filepath.Join(bin, n+"-runtime")
	writeTestFile(t, runtime, []byte(fmt.Sprintf(`#!/bin/sh
# container runtime stand-in: etcdutl's arguments to Debian's etcdctl
while [ $# -gt 0 ] && [ "$1" != --entrypoint ]; do shift; done
[ "$2" = /usr/local/bin/etcdutl ] || { echo "entrypoint $2, want /usr/local/bin/etcdutl" >&2; exit 1; }
printf '%%s' "$3" >%s
shift 3
ETCDCTL_API=3 exec %s "$@"
`, imageLog, lab.etcdctl)), 0o755)
	systemctl := filepath.Join(bin, "systemctl")
	writeTestFile(t, systemctl, []byte(fmt.Sprintf(`#!/bin/sh
[ "$*" = "show --property=Environment --value %s" ] || { echo "systemctl $*" >&2; exit 1; }
echo '%s'
`, etcd.Unit, flatcarEtcdEnv)), 0o755)
	env := map[string]string{}
	for _, e := range unitLines(unit, "Environment") {
		k, v, _ := strings.Cut(e, "=")
		env[k] = v
	}
	for _, key := range []string{"ExecStartPre", "ExecStart", "ExecStartPost"} {
		for _, line := range unitLines(unit, key) {
			line = rooted(systemdExpand(line, env), root)
			for _, prog := range []string{"/usr/bin/docker", "/usr/bin/podman"} {
				line = strings.ReplaceAll(line, prog+" ", runtime+" ")
			}
			line = strings.ReplaceAll(line, "/usr/bin/systemctl ", systemctl+" ")
			words := splitUnitWords(t, line)
			out, err := exec.Command(words[0], words[1:]...).CombinedOutput()
			if err != nil {
				t.Fatalf("%s: %s=%s: %v\n%s", n, key, line, err, out)
			}
		}
	}
	return string(readOrFatal(t, imageLog))
}

// systemdExpand expands a unit's command line as systemd does: ${NAME} to
// the unit's Environment= value, $$ to $.
func systemdExpand(s string, env map[string]string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch {
		case strings.HasPrefix(s[i:], "$$"):
			b.WriteByte('$')
			i++
		case strings.HasPrefix(s[i:], "${"):
			end := strings.IndexByte(s[i:], '}')
			b.WriteString(env[s[i+2:i+end]])
			i += end
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

// splitUnitWords splits a command line at spaces outside single and double
// quotes, as systemd does (without its backslash escapes, which the
// restore unit does not use).
func splitUnitWords(t *testing.T, s string) []string {
	var words []string
	var w strings.Builder
	in, quote := false, byte(0)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0 && c == quote:
			quote = 0
		case quote != 0:
			w.WriteByte(c)
		case c == '\'' || c == '"':
			quote, in = c, true
		case c == ' ':
			if in {
				words = append(words, w.String())
				w.Reset()
				in = false
			}
		default:
			w.WriteByte(c)
			in = true
		}
	}
	if quote != 0 {
		t.Fatalf("unbalanced quotes in %s", s)
	}
	if in {
		words = append(words, w.String())
	}
	return words
}

// checkRestoreCloudConfig: the cloud-config of e21 writes the snapshot
// (decoded, the bytes taken), its restore unit (unit, as Ignition wrote it)
// and etcd-member's restore drop-in beside gen's: as files in cloud-init's
// flavour, in coreos.units in coreos-cloudinit's.
func checkRestoreCloudConfig(t *testing.T, flavor, file string, snapshot []byte, unit string) {
	t.Helper()
	type entry struct {
		Path, Permissions, Encoding, Content string
	}
	var cc struct {
		WriteFiles []entry `yaml:"write_files"`
		CoreOS     struct {
			Units []struct {
				Name, Content string
				Dropins       []struct{ Name, Content string } `yaml:"drop-ins"`
			}
		}
	}
	text := readOrFatal(t, file)
	if !bytes.HasPrefix(text, []byte("#cloud-config\n")) {
		t.Errorf("%s does not start with #cloud-config", file)
	}
	if err := yaml.Unmarshal(text, &cc); err != nil {
		t.Fatal(err)
	}
	found := map[string]string{}
	for _, f := range cc.WriteFiles {
		found[f.Path] = f.Content
		if f.Path != etcd.SnapshotFile {
			continue
		}
		raw, err := base64.StdEncoding.DecodeString(f.Content)
		if err != nil || f.Encoding != "gz+b64" || f.Permissions != "0600" {
			t.Fatalf("%s: the snapshot's entry: encoding %s, permissions %s, %v", file, f.Encoding, f.Permissions, err)
		}
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(zr)
		if err != nil || !bytes.Equal(got, snapshot) {
			t.Errorf("%s: the snapshot decodes to %d bytes (%v), not the %d taken", file, len(got), err, len(snapshot))
		}
	}
	for _, u := range cc.CoreOS.Units {
		if u.Content != "" {
			found[etcd.RestoreUnitPath+"?unit="+u.Name] = u.Content
		}
		for _, d := range u.Dropins {
			found[boot.DropinPath(u.Name, d.Name)+"?unit"] = d.Content
		}
	}
	want := []string{etcd.SnapshotFile, etcd.RestoreUnitPath, boot.DropinPath(etcd.Unit, etcd.RestoreDropin), boot.DropinPath(etcd.Unit, etcd.Dropin)}
	if flavor == "coreos" {
		want = []string{etcd.SnapshotFile, etcd.RestoreUnitPath + "?unit=" + etcd.RestoreUnit, boot.DropinPath(etcd.Unit, etcd.RestoreDropin) + "?unit", boot.DropinPath(etcd.Unit, etcd.Dropin) + "?unit"}
	}
	for _, p := range want {
		if _, ok := found[p]; !ok {
			t.Errorf("%s (%s flavour) writes no %s", file, flavor, p)
		}
	}
	if got := found[want[1]]; got != unit {
		t.Errorf("%s: the restore unit is not the one Ignition wrote:\n%s", file, realtool.FirstDiff(unit, got))
	}
}
