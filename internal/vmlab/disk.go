package vmlab

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// ownDiskSize is the size of the disk that carries a VM's own files (a
// sparse file): userdata, keys and the lab's network, a few hundred KiB.
const ownDiskSize = "64M"

// makeOwnDisk turns the directory dir, whose root/ holds the VM's own
// files, into a raw ext4 disk at disk (mke2fs -d: no loop mount). The
// image's vmlab-init copies root/ over the VM's root on its first boot.
func makeOwnDisk(dir, disk string) error {
	if out, err := exec.Command("truncate", "-s", ownDiskSize, disk).CombinedOutput(); err != nil {
		return fmt.Errorf("truncate %s: %v: %s", disk, err, out)
	}
	if out, err := exec.Command("mke2fs", "-q", "-F", "-t", "ext4", "-L", "vmlab-own", "-d", dir, disk).CombinedOutput(); err != nil {
		return fmt.Errorf("mke2fs -d %s %s: %v: %s", dir, disk, err, out)
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
