// Package gen is the pipeline behind `rampart gen`: spec → policy → firewall
// files and units per role and node → Butane, Ignition, cloud-config → the
// output tree with its manifest, and the final userdata, keys included, in
// the state directory. Run is the whole command: the checks that the tree
// and the state belong together, the state's certificates, the tree and
// the final userdata, and a report of what it did.
package gen
