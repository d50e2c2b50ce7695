// Package vmlab boots real virtual machines (qemu, TCG) from rampart's
// generated userdata, for tests that prove what happens at boot.
//
// The image is a Debian bookworm root built by `make vm-image` with
// mmdebstrap (a stand-in for Flatcar and Fedora CoreOS, which cannot be
// downloaded here, carrying the programs and paths the generated config
// relies on). For each VM the image's root is unpacked, written by the real
// Ignition's stages (as a node's initramfs would) or seeded for cloud-init's
// NoCloud datasource, given pre-generated SSH host keys and an authorized
// key, and turned into a raw ext4 disk with `mke2fs -d` (no loop mounts).
// The VM's NIC is a tap device plugged into a netlab bridge, so probe hosts
// in the lab's namespaces reach it with real packets, IPv4 and IPv6; SSH
// into it runs from one of those namespaces. Its serial console is kept in
// a file; a VM that does not come up in time fails the test with the
// console's last lines. Everything is stopped and removed when the test
// ends.
//
// The API is small: OpenImage, Boot, and the VM's methods SSH, Reboot,
// Stop, Console and HostKey.
package vmlab
