package vmlab

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// DiskSize is the size of a VM's root disk (a sparse file): the image and
// what a test adds, with room for the journal and etcd.
const DiskSize = "3G"

// unpackRoot unpacks the image's root into dir, owners, modes and extended
// attributes as they were built.
func unpackRoot(img *Image, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	out, err := exec.Command("tar", "--numeric-owner", "--xattrs", "--xattrs-include=*", "-xpf", img.RootTar, "-C", dir).CombinedOutput()
	if err != nil {
		return fmt.Errorf("unpacking %s: %v: %s", img.RootTar, err, out)
	}
	return nil
}

// makeDisk turns the directory root into a raw ext4 disk image at disk
// (mke2fs -d: no loop mount, no privileges beyond reading root).
func makeDisk(root, disk string) error {
	if out, err := exec.Command("truncate", "-s", DiskSize, disk).CombinedOutput(); err != nil {
		return fmt.Errorf("truncate %s: %v: %s", disk, err, out)
	}
	if out, err := exec.Command("mke2fs", "-q", "-F", "-t", "ext4", "-L", "root", "-d", root, disk).CombinedOutput(); err != nil {
		return fmt.Errorf("mke2fs -d %s %s: %v: %s", root, disk, err, out)
	}
	return nil
}

// writeFiles writes each file (path relative to root: contents) with its
// directories, mode 0644.
func writeFiles(root string, files map[string]string) error {
	for p, data := range files {
		dst := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(dst, []byte(data), 0o644); err != nil {
			return err
		}
	}
	return nil
}
