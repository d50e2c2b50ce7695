// Package bootproof holds the boot proofs: tests that boot real VMs
// (internal/vmlab) from rampart's generated userdata and check, with the
// VM's own systemd, kernel and real packets from the lab's hosts, what
// rampart promises at boot: the firewall is loaded before the network and
// from the first packet, it survives a reboot, a failure closes the node and
// shows on the console, cloud-init writes and starts what the cloud-config
// says, and etcd members form a TLS cluster from their userdata. It has no
// code outside its tests.
package bootproof
