// Package etcd is what rampart knows of the etcd cluster a spec makes: its
// members and their URLs (topology), the environment each member and each
// client runs with, where etcd's files and units land on a machine, the
// etcdctl steps that replace a lost member, and when reinstalling a member
// is safe. gen assembles machines with it; the recover and push commands
// ask it before they touch a member.
package etcd
