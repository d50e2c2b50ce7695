package etcd

import (
	"bytes"
	"crypto/sha256"
	"fmt"

	"github.com/rampart-cluster/rampart/generator/spec"
)

// snapshotBlock is the size etcd's snapshot files come in: a bbolt
// database is a whole number of pages, and `etcdctl snapshot save` (and
// etcdutl) append the sha256 of the database to it, so a snapshot with its
// hash is 32 bytes longer than a multiple of 512.
const snapshotBlock = 512

// CheckSnapshot checks an etcd snapshot as `etcdutl snapshot restore` does
// before it restores one: its last 32 bytes are the sha256 of what comes
// before them. A truncated or altered snapshot fails, and so does a
// database copied from a data directory (member/snap/db), which carries no
// hash (etcdutl restores it only with --skip-hash-check).
func CheckSnapshot(data []byte) error {
	n := len(data)
	if n < snapshotBlock+sha256.Size {
		return fmt.Errorf("%d bytes: too short for an etcd snapshot (a snapshot is at least %d bytes, its database and a sha256 of it)", n, snapshotBlock+sha256.Size)
	}
	if n%snapshotBlock != sha256.Size {
		return fmt.Errorf("%d bytes: not the size of an etcd snapshot with its sha256 (a multiple of %d plus %d): truncated, or a database copied from a data directory rather than taken with `etcdctl snapshot save`", n, snapshotBlock, sha256.Size)
	}
	sum := sha256.Sum256(data[:n-sha256.Size])
	if !bytes.Equal(sum[:], data[n-sha256.Size:]) {
		return fmt.Errorf("the sha256 at its end does not match its contents: the snapshot is corrupt")
	}
	return nil
}

// MaxSnapshot is the largest snapshot recover --all puts into userdata,
// counted gzip-compressed as the userdata carries it: every member's
// userdata holds it whole, and Ignition holds its config in memory in the
// initramfs.
const MaxSnapshot = 16 << 20

// CheckSnapshotSize refuses a snapshot that is, gzip-compressed as the
// userdata carries it, larger than MaxSnapshot.
func CheckSnapshotSize(data []byte) error {
	if len(data) <= MaxSnapshot {
		return nil // the userdata carries it compressed only when that is smaller
	}
	packed, _ := compress(data)
	if len(packed) > MaxSnapshot {
		return fmt.Errorf("%d bytes, %d gzip-compressed: more than the %d (16 MiB) compressed that userdata carries (compact and defragment the cluster before its snapshot, or restore it by hand with etcdutl snapshot restore)", len(data), len(packed), MaxSnapshot)
	}
	return nil
}

// SnapshotCommand is the etcdctl command that takes a snapshot on a member
// of the spec's cluster, as root, with the files every member carries and
// its loopback client URL (as ReplaceCommands talks to it), into file.
func SnapshotCommand(s *spec.Spec, file string) string {
	return "ETCDCTL_API=3 etcdctl --endpoints=" + LocalClientURL(s) +
		" --cacert=" + ShellQuote(CAFile) + " --cert=" + ShellQuote(ClientCert) + " --key=" + ShellQuote(ClientKey) +
		" snapshot save " + ShellQuote(file)
}
