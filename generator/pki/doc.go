// Package pki keeps the etcd cluster's certificates in the state directory:
// one CA, per member a certificate for server and peer use, and per client
// role (the roles of the members, and the roles whose machines are etcd
// clients) a client certificate, so that one role's client key can be
// replaced without touching the others'. ECDSA P-256 keys and crypto/x509
// from the standard library only.
//
// The state is read before anything is written, and what exists is never
// replaced: a run creates only what is missing, and gives a member whose
// addresses changed a new certificate from the same CA for the key it already
// has. Certificates are made once and read back ever after, so the output of
// rampart is byte-identical from run to run although ECDSA signatures are
// not. New keys and certificates replace old ones only when asked to
// (Rotate).
//
// Layout of the state directory (directories 0700, keys 0600, certificates
// 0644). A key that group or others may read is tightened to 0600, and
// reported, by a run that writes (Ensure, Rotate), and refused by one that
// only reads (Load):
//
//	etcd/ca.crt, etcd/ca.key                 the cluster's etcd CA
//	etcd/members/<node>.crt, <node>.key      server and peer certificate of a member
//	etcd/clients/<role>.crt, <role>.key      client certificate of a role (CN <cluster>-<role>-client)
//	etcd/ca.replaced                         fingerprints of the CAs Rotate replaced
//	etcd/client.crt, etcd/client.key         the one client certificate of a state made
//	                                         before they were per role: never issued, never
//	                                         given to a machine; kept until Rotate retires it
package pki
