// Package vmlab boots real virtual machines (qemu, TCG) from rampart's
// generated userdata, for tests that prove what happens at boot.
//
// The image is a Debian bookworm root built by `make vm-image` with
// mmdebstrap: a stand-in for Flatcar and Fedora CoreOS, which cannot be
// downloaded here, carrying the programs and paths the generated config
// relies on, Flatcar's preset policy and an etcd-member unit (image/rootfs
// holds the files it adds). It is one raw ext4 disk that every VM boots
// read-only, each writing to its own throwaway overlay.
//
// A VM's own files (what the real Ignition's stages write from its config,
// or cloud-init's NoCloud seed with its cloud-config; its name, static
// addresses, SSH host key made beforehand and root's authorized key) go on
// a small second disk made with `mke2fs -d` (no loop mounts); the image's
// first process copies them over the root on the first boot, before
// systemd starts, where a node's initramfs runs Ignition. The VM's NIC is a
// tap device plugged into a netlab bridge, so probe hosts in the lab's
// namespaces reach it with real packets, IPv4 and IPv6; SSH into it runs
// from one of those namespaces, trusting only the host key the test made.
// Its serial console is kept in a file; a VM that does not come up in time
// fails the test with the console's last lines. Everything is stopped and
// removed when the test ends.
//
// The API is small: OpenImage, Start, and the VM's WaitReady, SSH,
// SSHFrom, MustSSH, Reboot, Stop, Console, ConsoleTail, HostKey,
// KnownHosts and ClientKey.
package vmlab
