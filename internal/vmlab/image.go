package vmlab

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/rampart-cluster/rampart/internal/realtool"
)

// ImageEnv names the directory of the VM image (what `make vm-image`
// builds: root.raw, vmlinuz, initrd.img); without it the image is looked
// for at .bin/vm-image under the module's root.
const ImageEnv = "RAMPART_VM_IMAGE"

// Image is a built VM image: a root file system as a raw ext4 disk, which
// VMs boot read-only (each writes to its own throwaway overlay), and the
// kernel and initramfs that boot it.
type Image struct {
	Dir    string // the image's directory
	Disk   string // root.raw
	Kernel string // vmlinuz
	Initrd string // initrd.img
}

// OpenImage finds the image and the host programs a VM needs (qemu, mke2fs,
// ssh, ssh-keygen, ip) and stops the test when one is missing: a
// failure under RAMPART_REAL=1, a skip otherwise. VMs need root (tap
// devices, network namespaces).
func OpenImage(t testing.TB) *Image {
	t.Helper()
	realtool.NeedRoot(t, "VMs need tap devices and network namespaces")
	for _, tool := range []string{"qemu-system-x86_64", "mke2fs", "ssh", "ssh-keygen", "ip", "truncate"} {
		if _, err := exec.LookPath(tool); err != nil {
			realtool.Unavailable(t, "%s is not installed (`make deps` installs qemu-system-x86, e2fsprogs, openssh-client)", tool)
		}
	}
	dir := os.Getenv(ImageEnv)
	if dir == "" {
		root, err := realtool.RepoRoot()
		if err != nil {
			realtool.Unavailable(t, "cannot find the module's root: %v", err)
		}
		dir = filepath.Join(root, ".bin", "vm-image")
	}
	img := &Image{Dir: dir, Disk: filepath.Join(dir, "root.raw"), Kernel: filepath.Join(dir, "vmlinuz"), Initrd: filepath.Join(dir, "initrd.img")}
	for _, f := range []string{filepath.Join(dir, "done"), img.Disk, img.Kernel, img.Initrd} {
		if _, err := os.Stat(f); err != nil {
			realtool.Unavailable(t, "the VM image is not built (%v): `make vm-image` builds it, or set %s", err, ImageEnv)
		}
	}
	return img
}
