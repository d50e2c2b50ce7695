// Package vmproof proves `rampart apply` on real virtual machines
// (internal/vmlab: systemd as PID 1, Debian's sshd and sudo, logged in as
// the stand-in core user): the rollback armed
// with systemd-run, the firewall loaded with systemctl, a change that
// keeps the operator's access confirmed and kept, one that cuts it rolled
// back by the node. It holds tests only; they run in their own test binary
// (and time budget), beside the namespace tests of package apply.
package vmproof
