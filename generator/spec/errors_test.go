package spec_test

import (
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/rampart-cluster/rampart/generator/report"
	"github.com/rampart-cluster/rampart/generator/spec"
)

// brokenSpecs are small complete specs with exactly one mistake each, and the
// exact problems Parse reports for them, position and all. FuzzParse starts
// from them too.
var brokenSpecs = []struct {
	name string
	spec string
	want []string
	// codes are the entries' codes, in order; nil: not checked
	codes []string
}{
	{
		name: "unknown top-level key",
		spec: `version: 1
cluster: c
colour: red
roles:
  web: {zone: public}
`,
		want: []string{
			`t.yaml:3:1: unknown key "colour" (expected one of: version, cluster, os, outputs, profile, admins, trusted, roles, nodes, pools, rules, overlays, etcd, firewall, provider, kubernetes, audit, users, snippets, cloud-config)`,
		},
		codes: []string{"spec.unknown-key"},
	},
	{
		name: "unknown key in a role",
		spec: `version: 1
cluster: c
roles:
  web:
    zone: public
    foo: 1
`,
		want: []string{
			`t.yaml:6:5: roles.web: unknown key "foo" (expected one of: zone, etcd, etcd_client, public, admin, users)`,
		},
		codes: []string{"spec.unknown-key"},
	},
	{
		name: "unknown key in firewall.log",
		spec: `version: 1
cluster: c
roles:
  web: {zone: public}
firewall:
  log:
    prefix: "x: "
    foo: bar
`,
		want: []string{
			`t.yaml:8:5: firewall.log: unknown key "foo" (expected one of: prefix, rate)`,
		},
		codes: []string{"spec.unknown-key"},
	},
	{
		name: "version is a word",
		spec: `version: "one"
cluster: c
roles:
  web: {zone: public}
`,
		want: []string{
			`t.yaml:1:10: version: must be a whole number, not "one"`,
		},
		codes: []string{"spec.not-integer"},
	},
	{
		name: "etcd is the string yes",
		spec: `version: 1
cluster: c
roles:
  web: {zone: public, etcd: "yes"}
`,
		want: []string{
			`t.yaml:4:29: roles.web.etcd: must be true or false, not "yes"`,
		},
		codes: []string{"spec.not-boolean"},
	},
	{
		name: "port list is a string",
		spec: `version: 1
cluster: c
roles:
  web:
    zone: public
    public: 80/tcp
`,
		want: []string{
			`t.yaml:6:13: roles.web.public: must be a list, not "80/tcp"`,
		},
		codes: []string{"spec.not-list"},
	},
	{
		name: "roles is a list",
		spec: `version: 1
cluster: c
roles: [web]
`,
		want: []string{
			`t.yaml:3:8: roles: must be a mapping of names, not a list`,
		},
		codes: []string{"spec.not-name-mapping"},
	},
	{
		name: "version 2",
		spec: `version: 2
cluster: c
roles:
  web: {zone: public}
`,
		want: []string{
			`t.yaml:1:10: version: spec version 2 is not supported; this rampart reads version 1`,
		},
		codes: []string{"spec.unsupported-version"},
	},
	{
		name: "version missing",
		spec: `cluster: c
roles:
  web: {zone: public}
`,
		want: []string{
			`t.yaml:1:1: version is missing: write "version: 1" at the top of the spec`,
		},
		codes: []string{"spec.version-missing"},
	},
	{
		name: "cluster missing",
		spec: `version: 1
roles:
  web: {zone: public}
`,
		want: []string{
			`t.yaml:1:1: cluster is missing: name the cluster (1 to 20 characters of a-z, 0-9 and -)`,
		},
		codes: []string{"spec.cluster-missing"},
	},
	{
		name: "cluster name with capitals and underscore",
		spec: `version: 1
cluster: Dcos_Dev
roles:
  web: {zone: public}
`,
		want: []string{
			`t.yaml:2:10: cluster: "Dcos_Dev" must be 1 to 20 characters of a-z, 0-9 and -`,
		},
		codes: []string{"spec.cluster-name"},
	},
	{
		name: "duplicate node names",
		spec: `version: 1
cluster: c
roles:
  web: {zone: public}
nodes:
  - {name: web-1, role: web, addresses: [10.0.0.1]}
  - {name: web-1, role: web, addresses: [10.0.0.2]}
`,
		want: []string{
			`t.yaml:7:12: nodes[1].name: node name "web-1" is used twice (first at line 6)`,
		},
		codes: []string{"spec.node-name-twice"},
	},
	{
		name: "node address does not parse",
		spec: `version: 1
cluster: c
roles:
  web: {zone: public}
nodes:
  - name: web-1
    role: web
    addresses: [10.0.0.1, 10.0.0.300]
`,
		want: []string{
			`t.yaml:8:27: nodes[0].addresses[1]: "10.0.0.300" is not an IP address`,
		},
		codes: []string{"spec.not-address"},
	},
	{
		name: "node ssh target is not a host",
		spec: `version: 1
cluster: c
roles:
  web: {zone: public}
nodes:
  - {name: web-1, role: web, addresses: [10.0.0.1], ssh: "web 1:22"}
  - {name: web-2, role: web, addresses: [10.0.0.2], ssh: "bastion.example.org:2222"}
  - {name: web-3, role: web, addresses: [10.0.0.3], ssh: "[2001:db8::3]:22"}
  - {name: web-4, role: web, addresses: [10.0.0.4], ssh: "10.0.0.4:0"}
`,
		want: []string{
			`t.yaml:6:58: nodes[0].ssh: "web 1:22" is not a host name or address to connect to (host, host:port or [IPv6]:port)`,
			`t.yaml:9:58: nodes[3].ssh: "10.0.0.4:0" is not a host name or address to connect to (host, host:port or [IPv6]:port)`,
		},
		codes: []string{"spec.not-ssh-target", "spec.not-ssh-target"},
	},
	{
		name: "node address is a CIDR",
		spec: `version: 1
cluster: c
roles:
  web: {zone: public}
nodes:
  - name: web-1
    role: web
    addresses: [10.0.0.0/24]
`,
		want: []string{
			`t.yaml:8:17: nodes[0].addresses[0]: "10.0.0.0/24" is a range; a node's addresses are single addresses (use pools for ranges)`,
		},
		codes: []string{"spec.node-address-is-range"},
	},
	{
		name: "node role does not exist",
		spec: `version: 1
cluster: c
roles:
  web: {zone: public}
nodes:
  - name: db-1
    role: db
    addresses: [10.0.0.1]
`,
		want: []string{
			`t.yaml:7:11: nodes[0].role: role "db" does not exist (roles: web)`,
		},
		codes: []string{"spec.unknown-role"},
	},
	{
		name: "pool role does not exist",
		spec: `version: 1
cluster: c
profile: dcos
pools:
  - role: worker
    cidrs: [10.0.16.0/20]
`,
		want: []string{
			`t.yaml:5:11: pools[0].role: role "worker" does not exist (roles: master, agent, public-agent)`,
		},
		codes: []string{"spec.unknown-role"},
	},
	{
		name: "pool CIDR with host bits",
		spec: `version: 1
cluster: c
profile: dcos
pools:
  - role: agent
    cidrs: [10.0.16.1/20]
`,
		want: []string{
			`t.yaml:6:13: pools[0].cidrs[0]: "10.0.16.1/20" has host bits set; did you mean 10.0.16.0/20?`,
		},
		codes: []string{"spec.host-bits"},
	},
	{
		name: "overlapping overlays",
		spec: `version: 1
cluster: c
profile: dcos
overlays:
  networks: {it: 10.250.0.0/16, hr: 10.250.128.0/17}
`,
		want: []string{
			`t.yaml:5:33: overlays.networks.hr: 10.250.128.0/17 overlaps overlay it (10.250.0.0/16, line 5); overlays must not share addresses`,
		},
		codes: []string{"spec.overlays-overlap"},
	},
	{
		name: "overlay named like a role",
		spec: `version: 1
cluster: c
profile: dcos
overlays:
  networks: {agent: 10.250.0.0/16}
`,
		want: []string{
			`t.yaml:5:14: overlays.networks.agent: "agent" is also a role; rules could not tell them apart: rename the overlay`,
		},
		codes: []string{"spec.overlay-is-role"},
	},
	{
		name: "overlay allow names an unknown overlay",
		spec: `version: 1
cluster: c
profile: dcos
overlays:
  networks: {it: 10.250.0.0/16, hr: 192.168.0.0/16}
  allow:
    - {from: hr, to: sales}
`,
		want: []string{
			`t.yaml:7:22: overlays.allow[0].to: "sales" is not an overlay (overlays: it, hr)`,
		},
		codes: []string{"spec.unknown-overlay"},
	},
	{
		name: "port 70000/tcp",
		spec: `version: 1
cluster: c
roles:
  master:
    zone: admin
    public: [80/tcp, 70000/tcp]
`,
		want: []string{
			`t.yaml:6:22: roles.master.public[1]: port 70000 in "70000/tcp" is out of range (1-65535)`,
		},
		codes: []string{"spec.port-in-range-out-of-range"},
	},
	{
		name: "port with icmp",
		spec: `version: 1
cluster: c
roles:
  web:
    zone: public
    admin: [22/tcp, 80/icmp]
`,
		want: []string{
			`t.yaml:6:21: roles.web.admin[1]: ICMP has no ports: write icmp instead of "80/icmp"`,
		},
		codes: []string{"spec.icmp-with-port"},
	},
	{
		name: "port 0",
		spec: `version: 1
cluster: c
roles:
  web:
    zone: public
    public: [0/tcp]
`,
		want: []string{
			`t.yaml:6:14: roles.web.public[0]: port 0 in "0/tcp" is out of range (1-65535)`,
		},
		codes: []string{"spec.port-in-range-out-of-range"},
	},
	{
		name: "backwards range",
		spec: `version: 1
cluster: c
roles:
  web:
    zone: public
    public: [10100-10000/tcp]
`,
		want: []string{
			`t.yaml:6:14: roles.web.public[0]: range "10100-10000/tcp" runs backwards; write 10000-10100/tcp`,
		},
		codes: []string{"spec.range-backwards"},
	},
	{
		name: "port without protocol",
		spec: `version: 1
cluster: c
roles:
  web:
    zone: public
    public: [80]
`,
		want: []string{
			`t.yaml:6:14: roles.web.public[0]: port 80 needs a protocol: write 80/tcp or 80/udp`,
		},
		codes: []string{"spec.port-without-protocol"},
	},
	{
		name: "unknown protocol",
		spec: `version: 1
cluster: c
roles:
  web:
    zone: public
    public: [80/sctcp]
`,
		want: []string{
			`t.yaml:6:14: roles.web.public[0]: protocol "sctcp" in "80/sctcp" is not tcp, udp or sctp (protocols without ports: icmp, ipip, esp, gre, vrrp, proto/NUMBER)`,
		},
		codes: []string{"spec.unknown-protocol"},
	},
	{
		name: "duplicate key in a mapping",
		spec: `version: 1
cluster: c
roles:
  web:
    zone: public
    zone: private
`,
		want: []string{
			`t.yaml:6:5: roles.web.zone: key "zone" is given twice (first at line 5)`,
		},
		codes: []string{"spec.key-twice"},
	},
	{
		name: "rule from an unknown name",
		spec: `version: 1
cluster: c
profile: dcos
rules:
  - {from: bastion, to: master, ports: [22/tcp]}
`,
		want: []string{
			`t.yaml:5:12: rules[0].from: "bastion" is not world, admins, trusted, cluster, pods, a role (master, agent, public-agent), an overlay (none) or an address/CIDR`,
		},
		codes: []string{"spec.unknown-source"},
	},
	{
		name: "rule to an unknown role",
		spec: `version: 1
cluster: c
profile: dcos
rules:
  - {from: admins, to: masters, ports: [22/tcp]}
`,
		want: []string{
			`t.yaml:5:24: rules[0].to: "masters" is not a role (master, agent, public-agent), all or cluster`,
		},
		codes: []string{"spec.unknown-destination"},
	},
	{
		name: "role without zone",
		spec: `version: 1
cluster: c
roles:
  web:
    public: [80/tcp]
nodes:
  - {name: web-1, role: web, addresses: [10.0.0.1]}
`,
		want: []string{
			`t.yaml:4:3: roles.web: the role needs a zone (admin, private or public)`,
		},
		codes: []string{"spec.role-without-zone"},
	},
	{
		name: "unsupported os.version",
		spec: `version: 1
cluster: c
os:
  variant: flatcar
  version: 1.6.0
roles:
  web: {zone: public}
`,
		want: []string{
			`t.yaml:5:12: os.version: Butane flatcar version "1.6.0" is not supported (supported: 1.0.0, 1.1.0)`,
		},
		codes: []string{"spec.unsupported-butane"},
	},
	{
		name: "experimental fcos version",
		spec: `version: 1
cluster: c
os: {variant: fcos, version: 1.8.0}
roles:
  web: {zone: public}
`,
		want: []string{
			`t.yaml:3:30: os.version: Butane fcos version "1.8.0" is experimental in the butane library (its Ignition spec is not stable yet), so rampart does not generate it (supported: 1.4.0, 1.5.0, 1.6.0, 1.7.0)`,
		},
		codes: []string{"spec.experimental-butane"},
	},
	{
		name: "experimental flatcar version",
		spec: `version: 1
cluster: c
os: {variant: flatcar, version: 1.2.0-experimental}
roles:
  web: {zone: public}
`,
		want: []string{
			`t.yaml:3:33: os.version: Butane flatcar version "1.2.0-experimental" is experimental in the butane library (its Ignition spec is not stable yet), so rampart does not generate it (supported: 1.0.0, 1.1.0)`,
		},
		codes: []string{"spec.experimental-butane"},
	},
	{
		name: "fcos with iptables",
		spec: `version: 1
cluster: c
os: {variant: fcos}
roles:
  web: {zone: public}
firewall:
  backend: iptables
`,
		want: []string{
			`t.yaml:7:12: firewall.backend: iptables needs ipset, which Fedora CoreOS does not ship; use nftables (the default for fcos)`,
		},
		codes: []string{"spec.iptables-on-fcos"},
	},
	{
		name: "log prefix too long",
		spec: `version: 1
cluster: c
roles:
  web: {zone: public}
firewall:
  log: {prefix: "rampart-cluster-dropped-this: "}
`,
		want: []string{
			`t.yaml:6:17: firewall.log.prefix: "rampart-cluster-dropped-this: " is 30 characters long; the kernel keeps at most 29 of a log prefix`,
		},
		codes: []string{"spec.log-prefix-long"},
	},
	{
		name: "bad log rate",
		spec: `version: 1
cluster: c
roles:
  web: {zone: public}
firewall:
  log: {rate: 10/fortnight}
`,
		want: []string{
			`t.yaml:6:15: firewall.log.rate: "10/fortnight" is not a rate: write N/second, N/minute, N/hour or N/day`,
		},
		codes: []string{"spec.log-rate"},
	},
	{
		name: "etcd client_port equals peer_port",
		spec: `version: 1
cluster: c
roles:
  web: {zone: public}
etcd:
  client_port: 2379
  peer_port: 2379
`,
		want: []string{
			`t.yaml:7:14: etcd.peer_port: 2379 is also the client_port; etcd needs two different ports`,
		},
		codes: []string{"spec.etcd-ports-equal"},
	},
	{
		name: "etcd client_port equals the default peer_port",
		spec: `version: 1
cluster: c
roles:
  web: {zone: public}
etcd:
  client_port: 2380
`,
		want: []string{
			`t.yaml:6:16: etcd.client_port: 2380 is the default peer_port; etcd needs two different ports (set etcd.peer_port too)`,
		},
		codes: []string{"spec.etcd-port-is-default-peer"},
	},
	{
		name: "empty outputs list",
		spec: `version: 1
cluster: c
outputs: []
roles:
  web: {zone: public}
`,
		want: []string{
			`t.yaml:3:10: outputs: the list is empty; name at least one of: ignition, cloud-config`,
		},
		codes: []string{"spec.outputs-empty"},
	},
	{
		name: "unclosed flow mapping",
		spec: `version: 1
cluster: c
roles:
  web: {zone: public
nodes: []
`,
		want: []string{
			`t.yaml:4:1: not valid YAML: did not find expected ',' or '}' (is a { not closed, or a comma missing?)`,
		},
		codes: []string{"spec.not-yaml"},
	},
	{
		name: "document is a list",
		spec: `- version: 1
- cluster: c
`,
		want: []string{
			`t.yaml:1:1: the spec must be a mapping of keys (version, cluster, roles, ...), not a list`,
		},
		codes: []string{"spec.not-top-mapping"},
	},
	{
		name: "profile none without roles",
		spec: `version: 1
cluster: c
profile: none
`,
		want: []string{
			`t.yaml:3:10: no roles: declare roles or choose a profile (dcos, coreos-web) that brings them`,
		},
		codes: []string{"spec.no-roles"},
	},
	{
		name: "second YAML document",
		spec: `version: 1
cluster: c
roles:
  web: {zone: public}
---
version: 1
`,
		want: []string{
			`t.yaml:5:1: a second YAML document starts here; a spec file holds exactly one (remove the --- line or split the file)`,
		},
		codes: []string{"spec.second-document"},
	},
	{
		name: "alias without anchor",
		spec: `version: 1
cluster: c
roles:
  web: {zone: public}
admins: *ops
`,
		want: []string{
			`t.yaml:5:9: not valid YAML: alias *ops refers to no anchor &ops written before it`,
		},
		codes: []string{"spec.not-yaml"},
	},
	{
		name: "os.version without os.variant",
		spec: `version: 1
cluster: c
os: {version: 1.1.0}
roles:
  web: {zone: public}
`,
		want: []string{
			`t.yaml:3:15: os.version: a version is given without os.variant; say which OS it is for (flatcar or fcos)`,
		},
		codes: []string{"spec.os-version-without-variant"},
	},
	{
		name: "address of two nodes",
		spec: `version: 1
cluster: c
roles:
  web: {zone: public}
nodes:
  - {name: web-1, role: web, addresses: [10.0.0.1]}
  - {name: web-2, role: web, addresses: [10.0.0.2, 10.0.0.1]}
`,
		want: []string{
			`t.yaml:7:52: nodes[1].addresses[1]: 10.0.0.1 is also an address of node web-1 (line 6); a node's addresses are its own`,
		},
		codes: []string{"spec.address-of-other-node"},
	},
	{
		name: "rule from a CIDR with host bits",
		spec: `version: 1
cluster: c
profile: dcos
rules:
  - {from: 10.0.0.1/24, to: agent}
`,
		want: []string{
			`t.yaml:5:12: rules[0].from: "10.0.0.1/24" has host bits set; did you mean 10.0.0.0/24?`,
		},
		codes: []string{"spec.host-bits"},
	},
	{
		name: "rule without to",
		spec: `version: 1
cluster: c
profile: dcos
rules:
  - {from: admins, ports: [22/tcp]}
`,
		want: []string{
			`t.yaml:5:5: rules[0]: a rule needs "to:" (a role or all)`,
		},
		codes: []string{"spec.rule-without-to"},
	},
	{
		name: "pool of an etcd role",
		spec: `version: 1
cluster: c
profile: coreos-web
pools:
  - {role: web, cidrs: [10.0.0.0/24]}
`,
		want: []string{
			`t.yaml:5:12: pools[0].role: role "web" runs etcd, whose members must be listed as nodes with their addresses, not as a pool`,
		},
		codes: []string{"spec.etcd-role-in-pool"},
	},
	{
		name: "node without addresses",
		spec: `version: 1
cluster: c
roles:
  web: {zone: public}
nodes:
  - {name: web-1, role: web}
`,
		want: []string{
			`t.yaml:6:5: nodes[0]: a node needs at least one address`,
		},
		codes: []string{"spec.node-without-address"},
	},
	{
		name: "empty file",
		spec: ``,
		want: []string{
			`t.yaml:1:1: the spec is empty: it needs at least version, cluster and roles`,
		},
		codes: []string{"spec.empty"},
	},
	{
		name: "negative version",
		spec: `version: -1
cluster: c
roles:
  web: {zone: public}
`,
		want: []string{
			`t.yaml:1:10: version: spec version -1 is not supported; this rampart reads version 1`,
		},
		codes: []string{"spec.unsupported-version"},
	},
	{
		name: "role named like a reserved word",
		spec: `version: 1
cluster: c
roles:
  world: {zone: public}
`,
		want: []string{
			`t.yaml:4:3: roles.world: "world" is a reserved word in rules and cannot name a role`,
		},
		codes: []string{"spec.reserved-name"},
	},
	{
		name: "unknown output",
		spec: `version: 1
cluster: c
outputs: [ignition, pdf]
roles:
  web: {zone: public}
`,
		want: []string{
			`t.yaml:3:21: outputs[1]: "pdf" is not one of: ignition, cloud-config`,
		},
		codes: []string{"spec.not-one-of"},
	},
	{
		name: "IPv4-mapped admin address",
		spec: `version: 1
cluster: c
roles:
  web: {zone: public}
admins: ["::ffff:10.0.0.1"]
`,
		want: []string{
			`t.yaml:5:10: admins[0]: "::ffff:10.0.0.1" is an IPv4-mapped IPv6 address; write it as 10.0.0.1`,
		},
		codes: []string{"spec.ipv4-mapped"},
	},
	{
		name: "rule from an IPv4-mapped range",
		spec: `version: 1
cluster: c
roles:
  web: {zone: public}
rules:
  - {from: "::ffff:10.0.0.0/120", to: web}
`,
		want: []string{
			`t.yaml:6:12: rules[0].from: "::ffff:10.0.0.0/120" is an IPv4-mapped IPv6 range; write it in IPv4`,
		},
		codes: []string{"spec.ipv4-mapped-range"},
	},
	{
		name: "etcd port out of range",
		spec: `version: 1
cluster: c
roles:
  web: {zone: public}
etcd: {client_port: 70000}
`,
		want: []string{
			`t.yaml:5:21: etcd.client_port: port 70000 is out of range (1-65535)`,
		},
		codes: []string{"spec.port-out-of-range"},
	},
	{
		name: "users with a key that is not one",
		spec: `version: 1
cluster: c
users:
  - {name: core, ssh_authorized_keys: [ssh-ed25519 AAAA], groups: [sudo]}
roles:
  web: {zone: public, users: [{name: ops}]}
`,
		want: []string{
			`t.yaml:4:40: users[0].ssh_authorized_keys[0]: "ssh-ed25519 AAAA" is not an SSH public key (ssh: no key found; last parsing error for ignored line: ssh: short read); write one line of authorized_keys, such as "ssh-ed25519 AAAA... me@laptop"`,
		},
		codes: []string{"spec.ssh-key"},
	},
	{
		name: "snippet that is not there",
		spec: `version: 1
cluster: c
roles:
  web: {zone: public}
snippets: {all: [no-such-snippet.bu], roles: {web: [no-such-snippet.bu]}}
`,
		want: []string{
			`t.yaml:5:18: snippets.all[0]: snippet no-such-snippet.bu cannot be read: open no-such-snippet.bu: no such file or directory`,
			`t.yaml:5:53: snippets.roles.web[0]: snippet no-such-snippet.bu cannot be read: open no-such-snippet.bu: no such file or directory`,
		},
		codes: []string{"spec.snippet-read", "spec.snippet-read"},
	},
	{
		name: "etcd image with a space",
		spec: `version: 1
cluster: c
roles:
  web: {zone: public}
etcd: {image: "quay.io/coreos/etcd v3.5"}
`,
		want: []string{
			`t.yaml:5:15: etcd.image: "quay.io/coreos/etcd v3.5" is not a container image reference ([HOST[:PORT]/]PATH[:TAG][@sha256:DIGEST], lowercase path), such as quay.io/coreos/etcd:v3.5.17`,
		},
		codes: []string{"spec.etcd-image"},
	},
	{
		name: "etcd image empty",
		spec: `version: 1
cluster: c
roles:
  web: {zone: public}
etcd:
  image: ""
`,
		want: []string{
			`t.yaml:6:10: etcd.image: "" is not a container image reference ([HOST[:PORT]/]PATH[:TAG][@sha256:DIGEST], lowercase path), such as quay.io/coreos/etcd:v3.5.17`,
		},
		codes: []string{"spec.etcd-image"},
	},
	{
		name: "etcd image a list",
		spec: `version: 1
cluster: c
roles:
  web: {zone: public}
etcd: {image: [etcd]}
`,
		want: []string{
			`t.yaml:5:15: etcd.image: must be a string, not a list`,
		},
		codes: []string{"spec.not-string"},
	},
	{
		name: "etcd_client is the string yes",
		spec: `version: 1
cluster: c
roles:
  web: {zone: public, etcd: true}
  agent: {zone: private, etcd_client: "yes"}
`,
		want: []string{
			`t.yaml:5:39: roles.agent.etcd_client: must be true or false, not "yes"`,
		},
		codes: []string{"spec.not-boolean"},
	},
	{
		name: "etcd_client without an etcd role",
		spec: `version: 1
cluster: c
profile: none
roles:
  agent:
    zone: private
    etcd_client: true
`,
		want: []string{
			`t.yaml:7:18: roles.agent.etcd_client: no role runs etcd (etcd: true), so there is no etcd for the role's machines to be clients of`,
		},
		codes: []string{"spec.etcd-client-without-etcd"},
	},
	{
		name: "etcd tagged bool but not a bool",
		spec: `version: 1
cluster: c
roles:
  web: {zone: public, etcd: !!bool maybe}
`,
		want: []string{
			`t.yaml:4:29: roles.web.etcd: must be true or false, not "maybe"`,
		},
		codes: []string{"spec.not-boolean"},
	},
	{
		name: "version tagged int but not a number",
		spec: `version: !!int one
cluster: c
roles:
  web: {zone: public}
`,
		want: []string{
			`t.yaml:1:10: version: must be a whole number, not "one"`,
		},
		codes: []string{"spec.not-integer"},
	},
	{
		name: "YAML merge key",
		spec: `version: 1
cluster: c
roles:
  web: &w {zone: public}
  api:
    <<: *w
    zone: public
    etcd: true
`,
		want: []string{
			`t.yaml:6:5: roles.api: YAML merge keys (<<) are not supported; write the keys out`,
		},
		codes: []string{"spec.merge-key"},
	},
	{
		name: "pool CIDR is an address",
		spec: `version: 1
cluster: c
profile: dcos
pools:
  - {role: agent, cidrs: [10.0.0.1]}
`,
		want: []string{
			`t.yaml:5:27: pools[0].cidrs[0]: "10.0.0.1" is an address; a CIDR such as 10.0.0.1/32 is expected`,
		},
		codes: []string{"spec.address-not-cidr"},
	},
	{
		name: "wrong indentation",
		spec: `version: 1
cluster: c
roles:
  web:
    zone: public
   admin: [22/tcp]
`,
		want: []string{
			`t.yaml:4:1: not valid YAML: did not find expected key (is a line in this block indented wrongly?)`,
		},
		codes: []string{"spec.not-yaml"},
	},
	{
		name: "unclosed flow list",
		spec: `version: 1
cluster: c
roles: [a, b
`,
		want: []string{
			`t.yaml:3:1: not valid YAML: did not find expected ',' or ']' (is a [ not closed, or a comma missing?)`,
		},
		codes: []string{"spec.not-yaml"},
	},
	{
		name: "unclosed quote",
		spec: `version: 1
cluster: "c
roles: {}
`,
		want: []string{
			`t.yaml:2:1: not valid YAML: found unexpected end of stream (is a quote not closed?)`,
		},
		codes: []string{"spec.not-yaml"},
	},
	{
		name: "extra closing brace",
		spec: `version: 1
cluster: c
roles: {web: {zone: public}}}
`,
		want: []string{
			`t.yaml:3:1: not valid YAML: did not find expected key (is a line in this block indented wrongly?)`,
		},
		codes: []string{"spec.not-yaml"},
	},
	{
		name: "undefined tag handle",
		spec: `version: 1
cluster: c
roles: !x!y {}
`,
		want: []string{
			`t.yaml:3:1: not valid YAML: found undefined tag handle`,
		},
		codes: []string{"spec.not-yaml"},
	},
	{
		name: "alias cycle",
		spec: `version: 1
cluster: c
roles:
  web: {zone: public}
admins: &a [10.0.0.1, *a]
`,
		want: []string{
			`t.yaml:5:23: alias *a repeats a value that contains itself; YAML aliases must not loop`,
		},
		codes: []string{"spec.alias-loop"},
	},
	{
		name: "cluster is a list",
		spec: `version: 1
cluster: [a, b]
roles:
  web: {zone: public}
`,
		want: []string{
			`t.yaml:2:10: cluster: must be a string, not a list`,
		},
		codes: []string{"spec.not-string"},
	},
	{
		name: "outputs is a string",
		spec: `version: 1
cluster: c
outputs: ignition
roles:
  web: {zone: public}
`,
		want: []string{
			`t.yaml:3:10: outputs: must be a list, not "ignition"`,
		},
		codes: []string{"spec.not-list"},
	},
	{
		name: "node name not a host name",
		spec: `version: 1
cluster: c
roles:
  web: {zone: public}
nodes:
  - {name: Web_1, role: web, addresses: [10.0.0.1]}
`,
		want: []string{
			`t.yaml:6:12: nodes[0].name: "Web_1" is not a host name: 1 to 63 characters of a-z, 0-9 and -, not starting or ending with -`,
		},
		codes: []string{"spec.not-host-name"},
	},
	{
		name: "unknown rule action",
		spec: `version: 1
cluster: c
profile: dcos
rules:
  - {from: admins, to: master, action: block}
`,
		want: []string{
			`t.yaml:5:40: rules[0].action: "block" is not one of: allow, deny`,
		},
		codes: []string{"spec.not-one-of"},
	},
	{
		name: "overlay allowed to itself",
		spec: `version: 1
cluster: c
profile: dcos
overlays:
  networks: {it: 10.250.0.0/16}
  allow:
    - {from: it, to: it}
`,
		want: []string{
			`t.yaml:7:22: overlays.allow[0].to: it to itself is always allowed; an allowed pair names two different overlays`,
		},
		codes: []string{"spec.overlay-pair-to-itself"},
	},
	{
		name: "overlay given an address",
		spec: `version: 1
cluster: c
profile: dcos
overlays:
  networks: {it: 10.250.0.1}
`,
		want: []string{
			`t.yaml:5:18: overlays.networks.it: "10.250.0.1" is an address; a CIDR such as 10.250.0.1/32 is expected`,
		},
		codes: []string{"spec.address-not-cidr"},
	},
	{
		name: "pool without cidrs",
		spec: `version: 1
cluster: c
profile: dcos
pools:
  - role: agent
`,
		want: []string{
			`t.yaml:5:5: pools[0]: a pool needs at least one CIDR`,
		},
		codes: []string{"spec.pool-without-cidr"},
	},
	{
		name: "admin listed twice",
		spec: `version: 1
cluster: c
profile: dcos
admins:
  - 203.0.113.7
  - 203.0.113.7/32
`,
		want: []string{
			`t.yaml:6:5: admins[1]: 203.0.113.7/32 is listed twice (first at line 5)`,
		},
		codes: []string{"spec.listed-twice"},
	},
	{
		name: "port listed twice",
		spec: `version: 1
cluster: c
roles:
  web:
    zone: public
    public: [443/tcp, 80/tcp, 443/tcp]
`,
		want: []string{
			`t.yaml:6:31: roles.web.public[2]: 443/tcp is listed twice (first at line 6)`,
		},
		codes: []string{"spec.listed-twice"},
	},
	{
		name: "unknown zone",
		spec: `version: 1
cluster: c
roles:
  web: {zone: dmz}
`,
		want: []string{
			`t.yaml:4:15: roles.web.zone: "dmz" is not one of: admin, private, public`,
		},
		codes: []string{"spec.not-one-of"},
	},
	{
		name: "unknown profile",
		spec: `version: 1
cluster: c
profile: openshift
`,
		want: []string{
			`t.yaml:3:10: profile: "openshift" is not one of: dcos, coreos-web, kubernetes, none`,
		},
		codes: []string{"spec.not-one-of"},
	},
	{
		name: "default overlay action unknown",
		spec: `version: 1
cluster: c
profile: dcos
overlays:
  default: drop
`,
		want: []string{
			`t.yaml:5:12: overlays.default: "drop" is not one of: reject, accept`,
		},
		codes: []string{"spec.not-one-of"},
	},
	{
		name: "node address with interface zone",
		spec: `version: 1
cluster: c
roles:
  web: {zone: public}
nodes:
  - {name: web-1, role: web, addresses: ["fe80::1%eth0"]}
`,
		want: []string{
			`t.yaml:6:42: nodes[0].addresses[0]: "fe80::1%eth0" has an interface zone; write the address without %eth0`,
		},
		codes: []string{"spec.address-zone"},
	},
	{
		name: "second YAML document after an empty one",
		spec: "version: 1\ncluster: c\nroles:\n  web: {zone: public}\n---\n---\n# the agents\nroles:\n  agent: {zone: private}\n",
		want: []string{
			`t.yaml:6:1: a second YAML document starts here; a spec file holds exactly one (remove the --- line or split the file)`,
		},
		codes: []string{"spec.second-document"},
	},
	{
		name: "control character",
		spec: "version: 1\ncluster: c\x01\nroles:\n  web: {zone: public}\n",
		want: []string{
			`t.yaml:2:11: not valid YAML: control characters are not allowed`,
		},
		codes: []string{"spec.not-yaml"},
	},
	{
		name: "invalid UTF-8",
		spec: "version: 1\r\ncluster: c\r\nroles:\r\n  caf\xe9: {zone: public}\r\n",
		want: []string{
			`t.yaml:4:6: not valid YAML: invalid trailing UTF-8 octet`,
		},
		codes: []string{"spec.not-yaml"},
	},
	{
		name: "tab indentation",
		spec: "version: 1\ncluster: c\n\troles: {}\n",
		want: []string{
			`t.yaml:2:1: not valid YAML: found a tab character that violates indentation (indent with spaces, not tabs)`,
		},
		codes: []string{"spec.not-yaml"},
	},
	{
		name: "two providers",
		spec: `version: 1
cluster: c
roles:
  web: {zone: public}
provider:
  aws: {region: us-east-1, vpc: vpc-0a1b2c3d}
  packet: {project: 1f0c2a4e-3b5d-4c6e-8f70-123456789abc, metro: da, plan: c3.small.x86, os: flatcar_stable}
`,
		want: []string{
			`t.yaml:7:3: provider: a spec names one provider; packet is given after aws`,
		},
		codes: []string{"spec.second-provider"},
	},
	{
		name: "aws without a vpc and a bad region",
		spec: `version: 1
cluster: c
roles:
  web: {zone: public}
provider:
  aws:
    region: US-East
`,
		want: []string{
			`t.yaml:6:3: provider.aws: "vpc" is missing: the VPC the security groups belong to`,
			`t.yaml:7:13: provider.aws.region: "US-East" is not an AWS region such as us-east-1`,
		},
		codes: []string{"spec.required-missing", "spec.not-matching"},
	},
	{
		name: "aws rule quota out of range",
		spec: `version: 1
cluster: c
roles:
  web: {zone: public}
provider:
  aws: {region: eu-west-1, vpc: vpc-0a1b2c3d, rule_quota: 0}
`,
		want: []string{
			`t.yaml:6:59: provider.aws.rule_quota: 0 is not a rule quota: AWS allows 1 to 1000 inbound rules per group and family`,
		},
		codes: []string{"spec.rule-quota"},
	},
	{
		name: "packet project is not a UUID",
		spec: `version: 1
cluster: c
roles:
  web: {zone: public}
provider:
  packet: {project: my-project, metro: da, plan: c3.small.x86, os: flatcar_stable}
`,
		want: []string{
			`t.yaml:6:21: provider.packet.project: "my-project" is not a project UUID`,
		},
		codes: []string{"spec.not-matching"},
	},
	{
		name: "packet without plan and os",
		spec: `version: 1
cluster: c
roles:
  web: {zone: public}
provider:
  packet:
    project: 1f0c2a4e-3b5d-4c6e-8f70-123456789abc
    metro: da
`,
		want: []string{
			`t.yaml:6:3: provider.packet: "plan" is missing: the device plan for new devices`,
			`t.yaml:6:3: provider.packet: "os" is missing: the operating system slug for new devices`,
		},
		codes: []string{"spec.required-missing", "spec.required-missing"},
	},
	{
		name: "unknown rpfilter",
		spec: `version: 1
cluster: c
roles:
  web: {zone: public}
firewall:
  rpfilter: relaxed
`,
		want: []string{
			`t.yaml:6:13: firewall.rpfilter: "relaxed" is not one of: strict, loose, off`,
		},
		codes: []string{"spec.not-one-of"},
	},
	{
		name: "rpfilter is a boolean",
		spec: `version: 1
cluster: c
roles:
  web: {zone: public}
firewall: {rpfilter: false}
`,
		want: []string{
			`t.yaml:5:22: firewall.rpfilter: "false" is not one of: strict, loose, off`,
		},
		codes: []string{"spec.not-one-of"},
	},
	{
		name: "unknown metadata",
		spec: `version: 1
cluster: c
roles:
  web: {zone: public}
firewall:
  metadata: block
`,
		want: []string{
			`t.yaml:6:13: firewall.metadata: "block" is not one of: deny, allow`,
		},
		codes: []string{"spec.not-one-of"},
	},
	{
		name: "metadata is a list",
		spec: `version: 1
cluster: c
roles:
  web: {zone: public}
firewall:
  metadata: [deny]
`,
		want: []string{
			`t.yaml:6:13: firewall.metadata: must be a string, not a list`,
		},
		codes: []string{"spec.not-string"},
	},
	{
		name: "trusted mapping without cidr",
		spec: `version: 1
cluster: c
roles:
  web: {zone: public}
trusted:
  - 198.51.100.1
  - {ports: [53/udp]}
`,
		want: []string{
			`t.yaml:7:5: trusted[1]: a trusted entry written as a mapping needs "cidr:" (an address or CIDR)`,
		},
		codes: []string{"spec.trusted-without-cidr"},
	},
	{
		name: "trusted mapping with an unknown key",
		spec: `version: 1
cluster: c
roles:
  web: {zone: public}
trusted:
  - cidr: 8.8.8.8
    port: [53/udp]
`,
		want: []string{
			`t.yaml:7:5: trusted[0]: unknown key "port" (expected one of: cidr, ports)`,
		},
		codes: []string{"spec.unknown-key"},
	},
	{
		name: "trusted port out of range",
		spec: `version: 1
cluster: c
roles:
  web: {zone: public}
trusted: [{cidr: 8.8.8.8/32, ports: [53/udp, 70000/tcp]}]
`,
		want: []string{
			`t.yaml:5:46: trusted[0].ports[1]: port 70000 in "70000/tcp" is out of range (1-65535)`,
		},
		codes: []string{"spec.port-in-range-out-of-range"},
	},
	{
		name: "trusted port without protocol",
		spec: `version: 1
cluster: c
roles:
  web: {zone: public}
trusted:
  - cidr: 8.8.8.8
    ports:
      - 53
`,
		want: []string{
			`t.yaml:8:9: trusted[0].ports[0]: port 53 needs a protocol: write 53/tcp or 53/udp`,
		},
		codes: []string{"spec.port-without-protocol"},
	},
	{
		name: "trusted ports empty",
		spec: `version: 1
cluster: c
roles:
  web: {zone: public}
trusted: [{cidr: 8.8.8.8, ports: []}]
`,
		want: []string{
			`t.yaml:5:34: trusted[0].ports: the list is empty; name the ports the source needs, or leave ports out for every port`,
		},
		codes: []string{"spec.trusted-ports-empty"},
	},
	{
		name: "trusted cidr with host bits",
		spec: `version: 1
cluster: c
roles:
  web: {zone: public}
trusted: [{cidr: 8.8.8.8/24, ports: [53/udp]}]
`,
		want: []string{
			`t.yaml:5:18: trusted[0].cidr: "8.8.8.8/24" has host bits set; did you mean 8.8.8.0/24?`,
		},
		codes: []string{"spec.host-bits"},
	},
	{
		name: "trusted entry is a list",
		spec: `version: 1
cluster: c
roles:
  web: {zone: public}
trusted:
  - [8.8.8.8, 53/udp]
`,
		want: []string{
			`t.yaml:6:5: trusted[0]: must be an address, a CIDR or a mapping {cidr: ..., ports: [...]}, not a list`,
		},
		codes: []string{"spec.not-source"},
	},
	{
		name: "trusted twice, once with ports",
		spec: `version: 1
cluster: c
roles:
  web: {zone: public}
trusted:
  - 8.8.8.8
  - {cidr: 8.8.8.8/32, ports: [53/udp]}
`,
		want: []string{
			`t.yaml:7:12: trusted[1]: 8.8.8.8/32 is listed twice (first at line 6)`,
		},
		codes: []string{"spec.listed-twice"},
	},
	{
		name: "admins entry with ports",
		spec: `version: 1
cluster: c
roles:
  web: {zone: public}
admins:
  - {cidr: 203.0.113.7, ports: [22/tcp]}
`,
		want: []string{
			`t.yaml:6:5: admins[0]: must be an address or CIDR, not a mapping (only trusted entries take ports)`,
		},
		codes: []string{"spec.admin-with-ports"},
	},
	{
		name: "unknown provider",
		spec: `version: 1
cluster: c
roles:
  web: {zone: public}
provider:
  gcp: {}
`,
		want: []string{
			`t.yaml:6:3: provider: unknown key "gcp" (expected one of: aws, packet)`,
		},
		codes: []string{"spec.unknown-key"},
	},
}

// problems parses data as t.yaml and returns the problems, each as
// brief renders it; it fails the test when the error is not a fatal
// report or comes with a spec.
func problems(t *testing.T, data string) []string {
	t.Helper()
	var out []string
	for _, e := range entries(t, data) {
		out = append(out, brief(e))
	}
	return out
}

// entries parses data as t.yaml and returns its report's entries.
func entries(t *testing.T, data string) []report.Entry {
	t.Helper()
	s, err := spec.Parse("t.yaml", []byte(data))
	if err == nil {
		return nil
	}
	if s != nil {
		t.Errorf("Parse returned a spec along with the error %v", err)
	}
	var f *report.Failed
	if !errors.As(err, &f) {
		t.Fatalf("error is a %T, not a *report.Failed: %v", err, err)
	}
	for _, e := range f.Report.Entries {
		if e.Severity != report.Error || !strings.HasPrefix(e.Code, "spec.") {
			t.Errorf("entry %+v: a spec problem is an error with a spec.* code", e)
		}
	}
	return f.Report.Entries
}

// brief puts an entry's position, path and message together the way the
// tables below are written (the tables do not depend on how the product
// renders; TestRendering checks that once).
func brief(e report.Entry) string {
	s := e.Pos.String() + ": "
	if len(e.Path) > 0 {
		s += e.Path.String() + ": "
	}
	return s + e.Message
}

func TestBrokenSpecs(t *testing.T) {
	names := map[string]bool{}
	for _, c := range brokenSpecs {
		if names[c.name] {
			t.Fatalf("two cases are named %q", c.name)
		}
		names[c.name] = true
		t.Run(c.name, func(t *testing.T) {
			es := entries(t, c.spec)
			if len(es) == 0 {
				t.Fatalf("no error; want:\n%s", strings.Join(c.want, "\n"))
			}
			var got, codes []string
			for _, e := range es {
				got = append(got, brief(e))
				codes = append(codes, e.Code)
			}
			if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
				t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(c.want, "\n"))
			}
			if c.codes != nil && strings.Join(codes, " ") != strings.Join(c.codes, " ") {
				t.Errorf("codes %v, want %v", codes, c.codes)
			}
		})
	}
}

// TestErrorFields: the position, typed path, code and message are separate
// values.
func TestErrorFields(t *testing.T) {
	got := entries(t, `version: 1
cluster: c
roles:
  master:
    zone: admin
    public: [80/tcp, 70000/tcp]
`)
	want := []report.Entry{{
		Severity: report.Error,
		Code:     "spec.port-in-range-out-of-range",
		Path:     report.Path{"roles", "master", "public", 1},
		Pos:      spec.Pos{File: "t.yaml", Line: 6, Col: 22},
		Message:  `port 70000 in "70000/tcp" is out of range (1-65535)`,
	}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %#v, want %#v", got, want)
	}
}

// TestAllProblemsInFileOrder: a file with many mistakes reports every one,
// sorted by position, whether found while reading (types, ranges) or while
// cross-checking afterwards (references, missing keys).
func TestAllProblemsInFileOrder(t *testing.T) {
	got := problems(t, `cluster: Bad_Name
os: {variant: flatcar, version: 9.9.9}
roles:
  web:
    zone: public
    public: [80/tcp, 70000/tcp, 8080]
  db: {zone: private, colour: blue}
nodes:
  - name: web-1
    role: cache
    addresses: [10.0.0.1]
  - name: web-2
    role: web
    addresses: [10.0.0.999, 10.0.0.1]
rules:
  - {from: bastion, to: web, ports: [22/tcp]}
  - {from: admins, to: db, ports: [5432/sctpx]}
firewall:
  action: maybe
  log: {rate: often}
`)
	want := []string{
		`t.yaml:1:1: version is missing: write "version: 1" at the top of the spec`,
		`t.yaml:1:10: cluster: "Bad_Name" must be 1 to 20 characters of a-z, 0-9 and -`,
		`t.yaml:2:33: os.version: Butane flatcar version "9.9.9" is not supported (supported: 1.0.0, 1.1.0)`,
		`t.yaml:6:22: roles.web.public[1]: port 70000 in "70000/tcp" is out of range (1-65535)`,
		`t.yaml:6:33: roles.web.public[2]: port 8080 needs a protocol: write 8080/tcp or 8080/udp`,
		`t.yaml:7:23: roles.db: unknown key "colour" (expected one of: zone, etcd, etcd_client, public, admin, users)`,
		`t.yaml:10:11: nodes[0].role: role "cache" does not exist (roles: web, db)`,
		`t.yaml:14:17: nodes[1].addresses[0]: "10.0.0.999" is not an IP address`,
		`t.yaml:14:29: nodes[1].addresses[1]: 10.0.0.1 is also an address of node web-1 (line 9); a node's addresses are its own`,
		`t.yaml:16:12: rules[0].from: "bastion" is not world, admins, trusted, cluster, pods, a role (web, db), an overlay (none) or an address/CIDR`,
		`t.yaml:17:36: rules[1].ports[0]: protocol "sctpx" in "5432/sctpx" is not tcp, udp or sctp (protocols without ports: icmp, ipip, esp, gre, vrrp, proto/NUMBER)`,
		`t.yaml:19:11: firewall.action: "maybe" is not one of: drop, reject`,
		`t.yaml:20:15: firewall.log.rate: "often" is not a rate: write N/second, N/minute, N/hour or N/day`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestNoProblemHidesAnother: the cross-checks of nodes run whatever the
// others found: a role typo on one node, a duplicate address on the next, a
// node without a name or role whose address another takes, a name used twice
// whose address clashes too are all reported in one run.
func TestNoProblemHidesAnother(t *testing.T) {
	got := problems(t, `version: 1
cluster: c
roles:
  web: {zone: public}
nodes:
  - {name: a, role: wbe, addresses: [10.0.0.1]}
  - {name: b, role: web, addresses: [10.0.0.1]}
  - {role: web, addresses: [10.0.0.2]}
  - {name: d, addresses: [10.0.0.2, 10.0.0.3]}
  - {name: b, role: web, addresses: [10.0.0.3]}
`)
	want := []string{
		`t.yaml:6:21: nodes[0].role: role "wbe" does not exist (roles: web)`,
		`t.yaml:7:38: nodes[1].addresses[0]: 10.0.0.1 is also an address of node a (line 6); a node's addresses are its own`,
		`t.yaml:8:5: nodes[2]: a node needs a name`,
		`t.yaml:9:5: nodes[3]: a node needs a role`,
		`t.yaml:9:27: nodes[3].addresses[0]: 10.0.0.2 is also an address of node without a name (nodes[2]) (line 8); a node's addresses are its own`,
		`t.yaml:10:12: nodes[4].name: node name "b" is used twice (first at line 7)`,
		`t.yaml:10:38: nodes[4].addresses[0]: 10.0.0.3 is also an address of node d (line 9); a node's addresses are its own`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestTooManyProblems: past 100 problems the list stops, and says so.
func TestTooManyProblems(t *testing.T) {
	var b strings.Builder
	b.WriteString("version: 1\ncluster: c\nprofile: dcos\nadmins:\n")
	for i := range 150 {
		fmt.Fprintf(&b, "  - 10.0.%d.300\n", i)
	}
	got := problems(t, b.String())
	if len(got) != 101 {
		t.Fatalf("%d problems, want 100 and a last line", len(got))
	}
	if want := `t.yaml:104:5: admins[99]: "10.0.99.300" is not an IP address or CIDR`; got[99] != want {
		t.Errorf("100th problem:\n%s\nwant\n%s", got[99], want)
	}
	if want := "t.yaml:105:5: stopped after 100 problems; fix these and run again"; got[100] != want {
		t.Errorf("last line:\n%s\nwant\n%s", got[100], want)
	}
}

// measure parses data and reports how long it took and how many bytes it
// allocated.
func measure(data string) (error, time.Duration, uint64) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	_, err := spec.Parse("t.yaml", []byte(data))
	took := time.Since(start)
	runtime.ReadMemStats(&after)
	return err, took, after.TotalAlloc - before.TotalAlloc
}

// TestAliasBomb: YAML aliases that repeat a value exponentially (a "billion
// laughs") or quadratically are refused quickly and in little memory.
func TestAliasBomb(t *testing.T) {
	var laughs strings.Builder
	laughs.WriteString("version: 1\ncluster: c\nroles:\n  web: {zone: public}\n")
	laughs.WriteString(`lol: &lol1 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]` + "\n")
	for i := 2; i <= 9; i++ {
		fmt.Fprintf(&laughs, "lol%d: &lol%d [%s*lol%d]\n", i, i, strings.Repeat(fmt.Sprintf("*lol%d, ", i-1), 9), i-1)
	}
	laughs.WriteString("admins: *lol9\n")

	// 1,500 rules that repeat one rule of 1,500 ports: small file, 2 million
	// ports once expanded.
	var rules strings.Builder
	rules.WriteString("version: 1\ncluster: c\nroles:\n  web: {zone: public}\nrules:\n  - &r {from: world, to: web, ports: [")
	for i := 1; i <= 1500; i++ {
		fmt.Fprintf(&rules, "%d/tcp, ", i)
	}
	rules.WriteString("icmp]}\n" + strings.Repeat("  - *r\n", 1500))

	cases := []struct {
		name, spec string
		want       []string
	}{
		{"billion laughs", laughs.String(), []string{
			`t.yaml:5:1: unknown key "lol" (expected one of: version, cluster, os, outputs, profile, admins, trusted, roles, nodes, pools, rules, overlays, etcd, firewall, provider, kubernetes, audit, users, snippets, cloud-config)`,
			`t.yaml:6:1: unknown key "lol2" (expected one of: version, cluster, os, outputs, profile, admins, trusted, roles, nodes, pools, rules, overlays, etcd, firewall, provider, kubernetes, audit, users, snippets, cloud-config)`,
			`t.yaml:7:1: unknown key "lol3" (expected one of: version, cluster, os, outputs, profile, admins, trusted, roles, nodes, pools, rules, overlays, etcd, firewall, provider, kubernetes, audit, users, snippets, cloud-config)`,
			`t.yaml:8:1: unknown key "lol4" (expected one of: version, cluster, os, outputs, profile, admins, trusted, roles, nodes, pools, rules, overlays, etcd, firewall, provider, kubernetes, audit, users, snippets, cloud-config)`,
			`t.yaml:9:1: unknown key "lol5" (expected one of: version, cluster, os, outputs, profile, admins, trusted, roles, nodes, pools, rules, overlays, etcd, firewall, provider, kubernetes, audit, users, snippets, cloud-config)`,
			`t.yaml:10:1: unknown key "lol6" (expected one of: version, cluster, os, outputs, profile, admins, trusted, roles, nodes, pools, rules, overlays, etcd, firewall, provider, kubernetes, audit, users, snippets, cloud-config)`,
			`t.yaml:11:1: unknown key "lol7" (expected one of: version, cluster, os, outputs, profile, admins, trusted, roles, nodes, pools, rules, overlays, etcd, firewall, provider, kubernetes, audit, users, snippets, cloud-config)`,
			`t.yaml:12:1: unknown key "lol8" (expected one of: version, cluster, os, outputs, profile, admins, trusted, roles, nodes, pools, rules, overlays, etcd, firewall, provider, kubernetes, audit, users, snippets, cloud-config)`,
			`t.yaml:13:1: unknown key "lol9" (expected one of: version, cluster, os, outputs, profile, admins, trusted, roles, nodes, pools, rules, overlays, etcd, firewall, provider, kubernetes, audit, users, snippets, cloud-config)`,
			`t.yaml:14:9: aliases (*name) repeat more than 11220 values of this spec; write the repeated parts out instead`,
		}},
		{"quadratic rules", rules.String(), []string{
			`t.yaml:33:5: aliases (*name) repeat more than 40220 values of this spec; write the repeated parts out instead`,
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err, took, alloc := measure(c.spec)
			var errs *report.Failed
			if !errors.As(err, &errs) {
				t.Fatalf("want a *report.Failed, got %v", err)
			}
			var lines []string
			for _, e := range errs.Report.Entries {
				lines = append(lines, brief(e))
			}
			if got := strings.Join(lines, "\n"); got != strings.Join(c.want, "\n") {
				t.Errorf("got:\n%s\nwant:\n%s", got, strings.Join(c.want, "\n"))
			}
			if took > 2*time.Second || alloc > 64<<20 {
				t.Errorf("took %v and %d MB for a %d byte file", took, alloc>>20, len(c.spec))
			}
		})
	}
}

// TestAliasesReused: reusing a list through an alias a few times is what
// aliases are for, and is accepted.
func TestAliasesReused(t *testing.T) {
	s, err := spec.Parse("t.yaml", []byte(`version: 1
cluster: c
admins: &ops [203.0.113.0/24, "2001:db8:ad::/48"]
roles:
  web: {zone: public, public: &web [80/tcp, 443/tcp], admin: [22/tcp]}
  api: {zone: public, public: *web}
  lb: {zone: public, public: *web}
rules:
  - &ssh {from: 198.51.100.7, to: web, ports: [22/tcp]}
  - {from: 198.51.100.7, to: api, ports: [22/tcp]}
`))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"web", "api", "lb"} {
		r := s.Role(name)
		if r == nil || fmt.Sprint(r.Public) != "[80/tcp 443/tcp]" {
			t.Errorf("role %s: public %v, want [80/tcp 443/tcp]", name, r)
		}
	}
	if len(s.Admins) != 2 || len(s.Rules) != 2 {
		t.Errorf("admins %v, rules %d", s.Admins, len(s.Rules))
	}
}
