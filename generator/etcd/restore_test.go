package etcd_test

import (
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	ignition "github.com/coreos/ignition/v2/config"
	"gopkg.in/yaml.v3"

	"github.com/rampart-cluster/rampart/generator/boot"
	"github.com/rampart-cluster/rampart/generator/etcd"
	"github.com/rampart-cluster/rampart/generator/gen"
	"github.com/rampart-cluster/rampart/generator/pki"
	"github.com/rampart-cluster/rampart/generator/spec"
)

// fakeSnapshot is a snapshot-shaped file: pages of a database and the
// sha256 of them at the end, as etcdctl snapshot save writes it.
func fakeSnapshot(pages int) []byte {
	db := bytes.Repeat([]byte("rampart etcd page"), pages*512/17+1)[:pages*512]
	sum := sha256.Sum256(db)
	return append(db, sum[:]...)
}

// TestCheckSnapshot: a snapshot with its hash passes; one byte changed,
// one cut short, the database without its hash (a copy of member/snap/db)
// and a tiny file fail, each saying why.
func TestCheckSnapshot(t *testing.T) {
	good := fakeSnapshot(8)
	if err := etcd.CheckSnapshot(good); err != nil {
		t.Fatalf("a good snapshot: %v", err)
	}
	flipped := append([]byte(nil), good...)
	flipped[100] ^= 0x80
	for _, c := range []struct {
		name string
		data []byte
		says string
	}{
		{"one byte changed", flipped, "the snapshot is corrupt"},
		{"cut short", good[:len(good)-1], "not the size of an etcd snapshot"},
		{"without its hash", good[:len(good)-sha256.Size], "not the size of an etcd snapshot"},
		{"tiny", []byte("etcd"), "too short"},
	} {
		if err := etcd.CheckSnapshot(c.data); err == nil || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: %v, want it to say %q", c.name, err, c.says)
		}
	}
	if err := etcd.CheckSnapshotSize(good); err != nil {
		t.Errorf("a small snapshot: %v", err)
	}
}

// TestSnapshotSizeLimit: random bytes do not compress, so a snapshot of
// them just over MaxSnapshot is refused, one below it is not.
func TestSnapshotSizeLimit(t *testing.T) {
	t.Parallel()
	big := make([]byte, etcd.MaxSnapshot+512)
	if _, err := rand.Read(big); err != nil {
		t.Fatal(err)
	}
	if err := etcd.CheckSnapshotSize(big); err == nil || !strings.Contains(err.Error(), "more than the 16777216 (16 MiB) compressed") {
		t.Errorf("a snapshot of %d random bytes: %v, want it refused", len(big), err)
	}
	if err := etcd.CheckSnapshotSize(big[:etcd.MaxSnapshot-64<<10]); err != nil {
		t.Errorf("a snapshot of %d random bytes: %v", etcd.MaxSnapshot-64<<10, err)
	}
}

// TestRestoreUnitFCOS: on Fedora CoreOS the restore runs etcdutl in podman,
// from the spec's etcd image, with the arguments RestoreArgs gives, which
// name the member as etcd's environment does; it waits for the network
// (the image is pulled) and runs only without member data.
func TestRestoreUnitFCOS(t *testing.T) {
	s := parse(t, strings.Replace(threeMembers, "etcd: {client_port: 2379, peer_port: 2380}", "os: {variant: fcos, version: 1.5.0}\netcd: {client_port: 2379, peer_port: 2380, image: registry.example.com:5000/etcd:v3.5.21}", 1))
	n := s.Node("m2")
	files, units, err := etcd.Restore(s, n, fakeSnapshot(1))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 1 || files[0].Path != etcd.SnapshotFile || files[0].Mode != 0o600 {
		t.Errorf("files %+v, want the snapshot alone, 0600", files)
	}
	if len(units) != 2 || units[0].Name != etcd.RestoreUnit || units[0].Enabled || units[1].Name != etcd.Unit || len(units[1].Dropins) != 1 || units[1].Contents != "" {
		t.Fatalf("units %+v, want the restore unit (pulled in, not enabled) and a drop-in of %s", units, etcd.Unit)
	}
	unit := units[0].Contents
	args := strings.Join(etcd.RestoreArgs(s, n), " ")
	want := "ExecStart=/usr/bin/podman run --rm --network none --volume /var/lib/etcd:/var/lib/etcd:Z --volume /var/lib/rampart/etcd-restore:/var/lib/rampart/etcd-restore:ro,Z --entrypoint /usr/local/bin/etcdutl ${RAMPART_ETCD_IMAGE} " + args + "\n"
	for _, line := range []string{want, "Environment=RAMPART_ETCD_IMAGE=registry.example.com:5000/etcd:v3.5.21\n", "Before=etcd-member.service\n", "After=network-online.target\n", "ConditionPathExists=!/var/lib/etcd/member\n", "Type=oneshot\n"} {
		if !strings.Contains(unit, line) {
			t.Errorf("the restore unit has no line %q:\n%s", line, unit)
		}
	}
	env := map[string]string{}
	for _, v := range etcd.Env(s, n, etcd.New) {
		env[v.Name] = v.Value
	}
	for _, flag := range []string{"--name=" + env["ETCD_NAME"], "--initial-cluster=" + env["ETCD_INITIAL_CLUSTER"], "--initial-cluster-token=" + env["ETCD_INITIAL_CLUSTER_TOKEN"], "--initial-advertise-peer-urls=" + env["ETCD_INITIAL_ADVERTISE_PEER_URLS"]} {
		if !strings.Contains(args, " "+flag+" ") {
			t.Errorf("restore arguments %s lack %s", args, flag)
		}
	}
}

// TestAddToUserdata: a member's final userdata with the restore added
// keeps everything gen wrote; in Ignition, which its own parser accepts,
// etcd-member.service has both drop-ins and the snapshot is a gzip data
// URL of the bytes given; in cloud-config the original entries are
// unchanged and the new ones follow. The same input gives the same bytes.
func TestAddToUserdata(t *testing.T) {
	s := parse(t, strings.Replace(threeMembers, "etcd: {client_port: 2379, peer_port: 2380}", "os: {variant: flatcar, version: 1.1.0}\noutputs: [ignition, cloud-config]", 1))
	st := pki.Open(filepath.Join(t.TempDir(), "state"))
	if _, err := st.Ensure(s.Cluster, etcd.Members(s)); err != nil {
		t.Fatal(err)
	}
	snap := fakeSnapshot(64)
	files, units, err := etcd.Restore(s, s.Node("m1"), snap)
	if err != nil {
		t.Fatal(err)
	}

	final, err := gen.FinalUserdata(s, st, "node", "m1", spec.OutputIgnition)
	if err != nil {
		t.Fatal(err)
	}
	out, err := etcd.AddToUserdata(spec.OutputIgnition, final, files, units)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := etcd.AddToUserdata(spec.OutputIgnition, final, files, units); !bytes.Equal(again, out) {
		t.Error("AddToUserdata(ignition) gives other bytes the second time")
	}
	before, _, err := ignition.Parse(final)
	if err != nil {
		t.Fatal(err)
	}
	after, rep, err := ignition.Parse(out)
	if err != nil || len(rep.Entries) > 0 {
		t.Fatalf("ignition rejects the result: %v %s", err, rep)
	}
	if !reflect.DeepEqual(after.Storage.Files[:len(before.Storage.Files)], before.Storage.Files) || len(after.Storage.Files) != len(before.Storage.Files)+1 {
		t.Errorf("the files of gen's userdata changed, or more than the snapshot was added")
	}
	added := after.Storage.Files[len(after.Storage.Files)-1]
	if added.Path != etcd.SnapshotFile || *added.Mode != 0o600 || added.Contents.Compression == nil || *added.Contents.Compression != "gzip" {
		t.Errorf("the snapshot's entry: %+v", added)
	}
	src := *added.Contents.Source
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(src, "data:;base64,"))
	if err != nil {
		t.Fatal(err)
	}
	if got := gunzip(t, raw); !bytes.Equal(got, snap) {
		t.Errorf("the snapshot in the Ignition config is %d bytes, not the %d given", len(got), len(snap))
	}
	var dropins []string
	var restore bool
	for _, u := range after.Systemd.Units {
		if u.Name == etcd.Unit {
			for _, d := range u.Dropins {
				dropins = append(dropins, d.Name)
			}
		}
		restore = restore || (u.Name == etcd.RestoreUnit && u.Contents != nil && strings.Contains(*u.Contents, "snapshot restore"))
	}
	if strings.Join(dropins, " ") != etcd.Dropin+" "+etcd.RestoreDropin || !restore {
		t.Errorf("etcd-member.service drop-ins %v, restore unit %v; want both drop-ins and the unit", dropins, restore)
	}

	for _, flavor := range []string{"coreos", "cloud-init"} {
		fs := parse(t, strings.Replace(threeMembers, "etcd: {client_port: 2379, peer_port: 2380}", "os: {variant: flatcar, version: 1.1.0}\noutputs: [ignition, cloud-config]\ncloud-config: {flavor: "+flavor+"}", 1))
		cc, err := gen.FinalUserdata(fs, st, "node", "m1", spec.OutputCloudConfig)
		if err != nil {
			t.Fatal(err)
		}
		ccOut, err := etcd.AddToUserdata(spec.OutputCloudConfig, cc, files, units)
		if err != nil {
			t.Fatalf("%s: %v", flavor, err)
		}
		checkCloudConfigRestore(t, flavor, cc, ccOut)
	}
}

// checkCloudConfigRestore: what AddToUserdata added to a cloud-config of
// the flavour, and that it changed nothing gen wrote. In coreos-cloudinit's
// flavour the restore unit and drop-in join coreos.units, in cloud-init's
// they are files; the snapshot is a file in both.
func checkCloudConfigRestore(t *testing.T, flavor string, cc, ccOut []byte) {
	t.Helper()
	var was, now map[string]any
	if err := yaml.Unmarshal(cc, &was); err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(ccOut, &now); err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(ccOut, []byte("#cloud-config\n")) {
		t.Errorf("%s: the cloud-config lost its first line", flavor)
	}
	wasFiles, nowFiles := was["write_files"].([]any), now["write_files"].([]any)
	if len(nowFiles) < len(wasFiles) || !reflect.DeepEqual(nowFiles[:len(wasFiles)], wasFiles) {
		t.Fatalf("%s: gen's write_files entries changed", flavor)
	}
	paths := []string{}
	for _, f := range nowFiles[len(wasFiles):] {
		paths = append(paths, f.(map[string]any)["path"].(string))
	}
	want := []string{etcd.SnapshotFile, etcd.RestoreUnitPath, boot.DropinPath(etcd.Unit, etcd.RestoreDropin)}
	if flavor == "coreos" {
		want = want[:1]
		wasUnits := was["coreos"].(map[string]any)["units"].([]any)
		nowUnits := now["coreos"].(map[string]any)["units"].([]any)
		if len(nowUnits) != len(wasUnits)+1 {
			t.Fatalf("coreos: %d units, was %d: want the restore unit added", len(nowUnits), len(wasUnits))
		}
		for i, u := range wasUnits {
			um, nm := u.(map[string]any), nowUnits[i].(map[string]any)
			if um["name"] != etcd.Unit {
				if !reflect.DeepEqual(um, nm) {
					t.Errorf("coreos: unit %v changed", um["name"])
				}
				continue
			}
			wasDropins, nowDropins := um["drop-ins"].([]any), nm["drop-ins"].([]any)
			if len(nowDropins) != len(wasDropins)+1 || !reflect.DeepEqual(nowDropins[:len(wasDropins)], wasDropins) || nowDropins[len(wasDropins)].(map[string]any)["name"] != etcd.RestoreDropin {
				t.Errorf("coreos: %s's drop-ins %v, want gen's and %s", etcd.Unit, nowDropins, etcd.RestoreDropin)
			}
			if nm["command"] != "start" {
				t.Errorf("coreos: %s is not started", etcd.Unit)
			}
		}
		added := nowUnits[len(wasUnits)].(map[string]any)
		if added["name"] != etcd.RestoreUnit || !strings.Contains(added["content"].(string), "snapshot restore") || added["command"] != nil || added["enable"] != nil {
			t.Errorf("coreos: the added unit %v, want %s with its content, neither enabled nor started (etcd-member pulls it in)", added, etcd.RestoreUnit)
		}
	}
	if !reflect.DeepEqual(paths, want) {
		t.Errorf("%s: write_files adds %v, want %v", flavor, paths, want)
	}
	for k, v := range was {
		if k != "write_files" && k != "coreos" && !reflect.DeepEqual(now[k], v) {
			t.Errorf("%s: %s changed", flavor, k)
		}
	}
}

func gunzip(t *testing.T, data []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
