package etcd

import (
	"strings"

	"github.com/rampart-cluster/rampart/generator/boot"
	"github.com/rampart-cluster/rampart/generator/spec"
)

// Where the restore of recover --all lands on a member: the snapshot, the
// unit that restores it (RestoreUnit) and the drop-in of Unit that makes
// etcd wait for it. The restore writes into restoreWork, inside DataDir
// (one file system, so the move is a rename), and moves the member
// directory into place when it is complete.
const (
	RestoreUnit   = "rampart-etcd-restore.service"
	RestoreDropin = "10-rampart-restore.conf"
	SnapshotDir   = "/var/lib/rampart/etcd-restore"
	SnapshotFile  = SnapshotDir + "/snapshot.db"
	restoreWork   = DataDir + "/rampart-restore"
)

// RestoreArgs are the arguments of etcdutl (or of etcdctl 3.4, which takes
// the same) that restore member n from SnapshotFile: a new cluster of the
// spec's members with the snapshot's data, named, tokened and addressed
// exactly as Env starts etcd, written to restoreWork.
func RestoreArgs(s *spec.Spec, n *spec.Node) []string {
	env := map[string]string{}
	for _, v := range Env(s, n, New) {
		env[v.Name] = v.Value
	}
	return []string{"snapshot", "restore", SnapshotFile,
		"--name=" + env["ETCD_NAME"],
		"--initial-cluster=" + env["ETCD_INITIAL_CLUSTER"],
		"--initial-cluster-token=" + env["ETCD_INITIAL_CLUSTER_TOKEN"],
		"--initial-advertise-peer-urls=" + env["ETCD_INITIAL_ADVERTISE_PEER_URLS"],
		"--data-dir=" + restoreWork,
	}
}

// Restore is what member n boots with, besides its final userdata, to
// restore the cluster from snapshot on its first boot (recover --all): the
// snapshot file (0600), RestoreUnit, and the drop-in RestoreDropin of Unit
// that requires it and orders etcd after it, so that etcd starts only once
// the restore has succeeded or found member data already there. On Flatcar
// the restore runs etcdutl of the image etcd-member's wrapper runs (read
// from the unit's environment when it starts), on Fedora CoreOS of
// ImageOf, in the container runtime etcd runs in.
func Restore(s *spec.Spec, n *spec.Node, snapshot []byte) (files []boot.File, units []boot.Unit, err error) {
	image, err := ImageOf(s)
	if err != nil {
		return nil, nil, err
	}
	vars := map[string]any{
		"Name": n.Name, "Cluster": s.Cluster, "Variant": s.OS.Variant,
		"EtcdUnit": Unit, "Dropin": RestoreDropin, "DataDir": DataDir, "Work": restoreWork,
		"SnapshotDir": SnapshotDir, "Snapshot": SnapshotFile, "Image": image, "FlatcarImageURL": FlatcarImageURL,
		"Args": strings.Join(RestoreArgs(s, n), " "),
	}
	unit, err := boot.RenderUnit("rampart-etcd-restore.service.tmpl", vars)
	if err != nil {
		return nil, nil, err
	}
	dropin, err := boot.RenderUnit("etcd-member-restore.conf.tmpl", map[string]any{"Unit": RestoreUnit})
	if err != nil {
		return nil, nil, err
	}
	files = []boot.File{{Path: SnapshotFile, Mode: 0o600, Contents: string(snapshot)}}
	units = []boot.Unit{
		{Name: RestoreUnit, Contents: unit},
		{Name: Unit, Dropins: []boot.Dropin{{Name: RestoreDropin, Contents: dropin}}},
	}
	return files, units, nil
}

// RestoreUnitPath is where RestoreUnit lands on the member.
const RestoreUnitPath = boot.UnitDir + "/" + RestoreUnit
