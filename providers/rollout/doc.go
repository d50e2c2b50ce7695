// Package rollout brings the etcd certificates of the state directory to
// the running members and clients, and restarts etcd on the members one at
// a time: `rampart certs rollout`. It carries out a rolling CA rotation
// phase by phase (pki.PhaseTrust, PhaseLeaves, PhaseRetire) and the
// delivery of renewed certificates (pki.PhaseDeliver), from the record in
// the state (pki.Rollout), so that a run that stops resumes where it
// stopped.
//
// Safety: before anything is delivered every member must present a
// certificate of a CA the state knows (else the cluster is not this
// state's); before each restart every member must be healthy over TLS
// (GET /health with a client certificate of the state); after each restart
// the rollout waits until every member is healthy again, and a member that
// does not come back stops it, naming the member, with nothing else
// restarted.
//
// Machines is how files reach a node and etcd is restarted: SSH (over
// providers/apply's transport, with systemctl) for real nodes, local
// processes in the tests.
package rollout
