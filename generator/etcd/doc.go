// Package etcd is what rampart knows of the etcd cluster a spec makes: its
// members and their URLs (topology), the environment each member and each
// client runs with, the image etcd runs from, where etcd's files and units
// land on a machine, the etcdctl steps that replace a lost member, the
// snapshot restore that rebuilds a cluster lost whole (its unit, and adding
// it to a member's userdata), and when reinstalling a member is safe. gen
// assembles machines with it; the recover and push commands ask it before
// they touch a member.
package etcd
