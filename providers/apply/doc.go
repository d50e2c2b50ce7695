// Package apply brings the reviewed output tree to running nodes over SSH:
// `rampart apply`. For each node it reads what runs (the files rampart owns
// and the live ruleset), plans by meaning (which members, rules, unit and
// certificates change), and, unless nothing changes or the run is a dry
// run, delivers the node's files with the previous generation kept, arms a
// rollback on the node, activates the new files, and confirms through a NEW
// SSH connection. A node that cannot be reached again through its new rules
// restores the previous generation by itself when the confirmation timeout
// runs out.
//
// What is delivered is what was reviewed: the files come from the output
// tree and the keys from the state's final userdata, read by
// reviewed.Machines, which refuses a stale tree before any connection.
package apply
