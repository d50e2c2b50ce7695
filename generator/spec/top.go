package spec

import (
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"strings"

	"github.com/rampart-cluster/rampart/generator/report"
	"gopkg.in/yaml.v3"
)

// raw is the spec as written, before profile defaults: nil means "not given".
type raw struct {
	version  *int
	verGiven bool // version was written, perhaps wrongly
	cluster  *string
	clGiven  bool // cluster was written, perhaps wrongly
	os       OS
	osGiven  bool
	outputs  []string
	outNode  *yaml.Node
	profile  *string
	profNode *yaml.Node
	admins   []Source
	trusted  []Source
	roles    []*rawRole
	rlGiven  bool // roles was written with at least one entry
	// every name written under roles and overlays.networks, valid or not:
	// a reference to a broken one is not a second problem
	roleNames, overlayNames map[string]bool
	nodes                   []*Node
	pools                   []*Pool
	rules                   []*Rule
	overlays                Overlays
	etcd                    Etcd
	etcdPorts               [2]*yaml.Node // client_port, peer_port values
	firewall                Firewall
	fwGiven                 bool
	backend                 *yaml.Node
	provider                Provider
	kubernetes              rawKubernetes
	accept                  []Acceptance // audit.accept
	reach                   *string      // cluster.reach
	reachPos                Pos
	users                   []User // the top-level users
	snippets                rawSnippets
	snippetsGiven           bool
	cloudConfig             CloudConfig
	flavorNode              *yaml.Node // cloud-config.flavor's value
}

type rawRole struct {
	name      string
	pos       Pos
	zone      *string
	zoneGiven bool // zone was written, perhaps wrongly
	etcd      *bool
	// etcdClient is etcd_client; etcdClientNode its value, for errors.
	etcdClient     *bool
	etcdClientNode *yaml.Node
	public         []Port
	publicPos      *Pos
	admin          []Port
	adminPos       *Pos
	users          []User
}

var (
	clusterName = regexp.MustCompile(`^[a-z0-9-]{1,20}$`)
	roleName    = regexp.MustCompile(`^[a-z][a-z0-9-]{0,15}$`)
	nodeName    = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	logRate     = regexp.MustCompile(`^[1-9][0-9]{0,5}/(second|minute|hour|day)$`)
)

// Supported Butane variant versions per OS variant.
var osVersions = map[string][]string{
	"flatcar": {"1.0.0", "1.1.0"},
	"fcos":    {"1.4.0", "1.5.0", "1.6.0", "1.7.0"},
}

// experimentalVersions are the Butane versions the butane library carries
// only as experimental (written with an -experimental suffix, their Ignition
// spec not yet stable): refused with a message that says so.
var experimentalVersions = map[string]map[string]bool{
	"flatcar": {"1.2.0": true, "1.2.0-experimental": true},
	"fcos":    {"1.8.0": true, "1.8.0-experimental": true},
}

// DefaultOSVersion is the Butane version used when os.version is not given.
var DefaultOSVersion = map[string]string{"flatcar": "1.1.0", "fcos": "1.6.0"}

// reserved are names a role or overlay cannot take: they mean something in rules.
var reserved = map[string]bool{FromWorld: true, FromAdmins: true, FromTrusted: true, FromCluster: true, ToAll: true, FromPods: true}

func (d *decoder) top(root *yaml.Node, r *raw) {
	d.mapping(root, nil,
		field{"version", func(k, v *yaml.Node) {
			r.verGiven = true
			if n, ok := d.integer(v, report.At("version")); ok {
				if n != 1 {
					d.errorf(v, report.At("version"), msgUnsupportedVersion, n)
					return
				}
				one := 1
				r.version = &one
			}
		}},
		field{"cluster", func(k, v *yaml.Node) {
			r.clGiven = true
			name, path := v, report.At("cluster")
			if v.Kind == yaml.MappingNode {
				// cluster: {name: ..., reach: all | listed}
				name = nil
				d.mapping(v, path,
					field{"name", func(_, v *yaml.Node) { name = v }},
					field{"reach", func(k, v *yaml.Node) {
						if s, ok := d.oneOf(v, report.At("cluster", "reach"), ReachAll, ReachListed); ok {
							r.reach, r.reachPos = &s, d.pos(k)
						}
					}},
				)
				if name == nil {
					d.errorf(v, path, msgClusterNameMissing)
					return
				}
				path = report.At("cluster", "name")
			}
			if s, ok := d.str(name, path); ok {
				if !clusterName.MatchString(s) {
					d.errorf(name, path, msgClusterName, s)
				}
				r.cluster = &s
			}
		}},
		field{"os", func(k, v *yaml.Node) {
			r.osGiven = true
			r.os.Pos = d.pos(k)
			var vnode, variant *yaml.Node
			d.mapping(v, report.At("os"),
				field{"variant", func(_, v *yaml.Node) {
					variant = v
					r.os.Variant, _ = d.oneOf(v, report.At("os", "variant"), "flatcar", "fcos")
				}},
				field{"version", func(_, v *yaml.Node) {
					vnode = v
					r.os.Version, _ = d.str(v, report.At("os", "version"))
				}},
			)
			if variant == nil && vnode != nil {
				d.errorf(vnode, report.At("os", "version"), msgOSVersionWithoutVariant)
				return
			}
			if r.os.Variant == "" {
				r.os.Version = ""
				return
			}
			if r.os.Version == "" {
				r.os.Version = DefaultOSVersion[r.os.Variant]
				return
			}
			supported := false
			for _, s := range osVersions[r.os.Variant] {
				supported = supported || s == r.os.Version
			}
			if !supported && experimentalVersions[r.os.Variant][r.os.Version] {
				d.errorf(vnode, report.At("os", "version"), msgExperimentalButane, r.os.Variant, r.os.Version, strings.Join(osVersions[r.os.Variant], ", "))
				return
			}
			if !supported {
				d.errorf(vnode, report.At("os", "version"), msgUnsupportedButane, r.os.Variant, r.os.Version, strings.Join(osVersions[r.os.Variant], ", "))
			}
		}},
		field{"outputs", func(k, v *yaml.Node) {
			r.outNode = v
			r.outputs = []string{}
			seen := map[string]bool{}
			d.list(v, report.At("outputs"), func(i int, item *yaml.Node) {
				if s, ok := d.oneOf(item, index(report.At("outputs"), i), OutputIgnition, OutputCloudConfig); ok {
					if seen[s] {
						d.errorf(item, index(report.At("outputs"), i), msgOutputTwice, s)
						return
					}
					seen[s] = true
					r.outputs = append(r.outputs, s)
				}
			})
		}},
		field{"profile", func(k, v *yaml.Node) {
			r.profNode = v
			if s, ok := d.oneOf(v, report.At("profile"), "dcos", "coreos-web", "kubernetes", "none"); ok {
				r.profile = &s
			}
		}},
		field{"admins", func(k, v *yaml.Node) { r.admins = d.sources(v, report.At("admins"), false) }},
		field{"trusted", func(k, v *yaml.Node) { r.trusted = d.sources(v, report.At("trusted"), true) }},
		field{"roles", func(k, v *yaml.Node) { d.roles(v, r) }},
		field{"nodes", func(k, v *yaml.Node) { d.nodes(v, r) }},
		field{"pools", func(k, v *yaml.Node) { d.pools(v, r) }},
		field{"rules", func(k, v *yaml.Node) { d.rules(v, r) }},
		field{"overlays", func(k, v *yaml.Node) { d.overlays(k, v, r) }},
		field{"etcd", func(k, v *yaml.Node) {
			d.mapping(v, report.At("etcd"),
				field{"client_port", func(_, v *yaml.Node) {
					if n, ok := d.portValue(v, report.At("etcd", "client_port")); ok {
						r.etcd.ClientPort, r.etcdPorts[0] = n, v
					}
				}},
				field{"peer_port", func(_, v *yaml.Node) {
					if n, ok := d.portValue(v, report.At("etcd", "peer_port")); ok {
						r.etcd.PeerPort, r.etcdPorts[1] = n, v
					}
				}},
				field{"image", func(_, v *yaml.Node) {
					path := report.At("etcd", "image")
					s, ok := d.str(v, path)
					if !ok {
						return
					}
					if !imageReference.MatchString(s) {
						d.errorf(v, path, msgEtcdImage, s)
						return
					}
					r.etcd.Image, r.etcd.ImagePos = s, d.pos(v)
				}},
			)
		}},
		field{"firewall", func(k, v *yaml.Node) {
			r.fwGiven = true
			r.firewall.Pos = d.pos(k)
			d.mapping(v, report.At("firewall"),
				field{"backend", func(_, v *yaml.Node) {
					r.backend = v
					r.firewall.Backend, _ = d.oneOf(v, report.At("firewall", "backend"), "iptables", "nftables")
				}},
				field{"action", func(_, v *yaml.Node) {
					r.firewall.Action, _ = d.oneOf(v, report.At("firewall", "action"), "drop", "reject")
				}},
				field{"rpfilter", func(_, v *yaml.Node) {
					r.firewall.RPFilter, _ = d.oneOf(v, report.At("firewall", "rpfilter"), RPFilterStrict, RPFilterLoose, RPFilterOff)
				}},
				field{"metadata", func(k, v *yaml.Node) {
					r.firewall.MetadataPos = d.pos(k)
					r.firewall.Metadata, _ = d.oneOf(v, report.At("firewall", "metadata"), MetadataDeny, MetadataAllow)
				}},
				field{"log", func(_, v *yaml.Node) {
					d.mapping(v, report.At("firewall", "log"),
						field{"prefix", func(_, v *yaml.Node) {
							if s, ok := d.str(v, report.At("firewall", "log", "prefix")); ok {
								switch {
								case len(s) == 0:
									d.errorf(v, report.At("firewall", "log", "prefix"), msgLogPrefixEmpty, "rampart-drop: ")
									return
								case !printable(s):
									d.errorf(v, report.At("firewall", "log", "prefix"), msgLogPrefixChars, s)
									return
								case len(s) > 29:
									d.errorf(v, report.At("firewall", "log", "prefix"), msgLogPrefixLong, s, len(s))
									return
								}
								r.firewall.LogPrefix = s
							}
						}},
						field{"rate", func(_, v *yaml.Node) {
							if s, ok := d.str(v, report.At("firewall", "log", "rate")); ok {
								if !logRate.MatchString(s) {
									d.errorf(v, report.At("firewall", "log", "rate"), msgLogRate, s)
									return
								}
								r.firewall.LogRate = s
							}
						}},
					)
				}},
			)
		}},
		field{"provider", func(k, v *yaml.Node) { d.provider(k, v, &r.provider) }},
		field{"kubernetes", func(k, v *yaml.Node) { d.kubernetes(k, v, &r.kubernetes) }},
		field{"audit", func(k, v *yaml.Node) { r.accept = d.acceptances(v) }},
		field{"users", func(k, v *yaml.Node) { r.users = d.users(v, report.At("users")) }},
		field{"snippets", func(k, v *yaml.Node) { d.snippets(v, r) }},
		field{"cloud-config", func(k, v *yaml.Node) {
			r.cloudConfig.Pos = d.pos(k)
			d.mapping(v, report.At("cloud-config"),
				field{"flavor", func(_, v *yaml.Node) {
					r.flavorNode = v
					r.cloudConfig.Flavor, _ = d.oneOf(v, report.At("cloud-config", "flavor"), FlavorCloudInit, FlavorCoreOS)
				}},
			)
		}},
	)
}

func printable(s string) bool {
	for _, c := range s {
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '\'' {
			return false
		}
	}
	return true
}

// sources decodes a list of addresses and CIDRs (admins, trusted). With
// withPorts, an entry may also be a mapping {cidr: ..., ports: [...]} whose
// source reaches only those ports.
func (d *decoder) sources(n *yaml.Node, path report.Path, withPorts bool) []Source {
	var out []Source
	seen := map[netip.Prefix]int{}
	d.list(n, path, func(i int, item *yaml.Node) {
		ipath := index(path, i)
		src, at := Source{Pos: d.pos(item)}, item
		switch {
		case withPorts && item.Kind == yaml.MappingNode:
			var ok bool
			if src, at, ok = d.portedSource(item, ipath); !ok {
				return
			}
		case withPorts && item.Kind != yaml.ScalarNode:
			d.errorf(item, ipath, msgNotSource, kindName(item))
			return
		case item.Kind == yaml.MappingNode:
			d.errorf(item, ipath, msgAdminWithPorts)
			return
		default:
			p, ok := d.prefix(item, ipath, true)
			if !ok {
				return
			}
			src.Prefix = p
		}
		if line, dup := seen[src.Prefix]; dup {
			d.errorf(at, ipath, msgListedTwice, src.Prefix, line)
			return
		}
		seen[src.Prefix] = at.Line
		out = append(out, src)
	})
	return out
}

// portedSource decodes a trusted entry written as a mapping: cidr (an
// address or CIDR) and, optionally, the ports it reaches. It returns the
// cidr value too, for errors about the address.
func (d *decoder) portedSource(item *yaml.Node, path report.Path) (Source, *yaml.Node, bool) {
	src := Source{Pos: d.pos(item)}
	var cidrNode, portsNode *yaml.Node
	ok := true
	d.mapping(item, path,
		field{"cidr", func(_, v *yaml.Node) {
			cidrNode = v
			var pok bool
			if src.Prefix, pok = d.prefix(v, join(path, "cidr"), true); !pok {
				ok = false
			}
		}},
		field{"ports", func(_, v *yaml.Node) {
			portsNode = v
			src.Ports = d.ports(v, join(path, "ports"))
		}},
	)
	if cidrNode == nil {
		d.errorf(item, path, msgTrustedWithoutCIDR)
		return Source{}, nil, false
	}
	if portsNode != nil && (isNull(portsNode) || portsNode.Kind == yaml.SequenceNode && len(portsNode.Content) == 0) {
		d.errorf(portsNode, join(path, "ports"), msgTrustedPortsEmpty)
		return Source{}, nil, false
	}
	return src, cidrNode, ok
}

func (d *decoder) name(n *yaml.Node, path report.Path, what string) (string, bool) {
	if !roleName.MatchString(n.Value) {
		d.errorf(n, path, msgBadName, what, n.Value)
		return "", false
	}
	if reserved[n.Value] {
		d.errorf(n, path, msgReservedName, n.Value, what)
		return "", false
	}
	return n.Value, true
}

func (d *decoder) roles(n *yaml.Node, r *raw) {
	if !isNull(n) && (n.Kind != yaml.MappingNode || len(n.Content) > 0) {
		r.rlGiven = true
	}
	d.pairs(n, report.At("roles"), func(k, v *yaml.Node) {
		path := join(report.At("roles"), k.Value)
		r.roleNames[k.Value] = true
		name, ok := d.name(k, path, "role")
		if !ok {
			return
		}
		rr := &rawRole{name: name, pos: d.pos(k)}
		r.roles = append(r.roles, rr)
		if isNull(v) {
			return
		}
		d.mapping(v, path,
			field{"zone", func(_, v *yaml.Node) {
				rr.zoneGiven = true
				if s, ok := d.oneOf(v, join(path, "zone"), ZoneAdmin, ZonePrivate, ZonePublic); ok {
					rr.zone = &s
				}
			}},
			field{"etcd", func(_, v *yaml.Node) {
				if b, ok := d.boolean(v, join(path, "etcd")); ok {
					rr.etcd = &b
				}
			}},
			field{"etcd_client", func(_, v *yaml.Node) {
				if b, ok := d.boolean(v, join(path, "etcd_client")); ok {
					rr.etcdClient, rr.etcdClientNode = &b, v
				}
			}},
			field{"public", func(k, v *yaml.Node) {
				p := d.pos(k)
				rr.publicPos = &p
				rr.public = d.ports(v, join(path, "public"))
			}},
			field{"admin", func(k, v *yaml.Node) {
				p := d.pos(k)
				rr.adminPos = &p
				rr.admin = d.ports(v, join(path, "admin"))
			}},
			field{"users", func(k, v *yaml.Node) { rr.users = d.users(v, join(path, "users")) }},
		)
	})
}

func (d *decoder) nodes(n *yaml.Node, r *raw) {
	d.list(n, report.At("nodes"), func(i int, item *yaml.Node) {
		path := index(report.At("nodes"), i)
		node := &Node{Pos: d.pos(item)}
		ref := &refs{path: path}
		var nameNode, roleNode, addrNode *yaml.Node
		d.mapping(item, path,
			field{"name", func(_, v *yaml.Node) {
				nameNode = v
				if s, ok := d.str(v, join(path, "name")); ok {
					if !nodeName.MatchString(s) {
						d.errorf(v, join(path, "name"), msgNotHostName, s)
						return
					}
					node.Name = s
					ref.name = v
				}
			}},
			field{"role", func(_, v *yaml.Node) {
				roleNode = v
				node.Role, _ = d.str(v, join(path, "role"))
				ref.to = v
			}},
			field{"ssh", func(_, v *yaml.Node) {
				if s, ok := d.str(v, join(path, "ssh")); ok {
					if !sshTarget(s) {
						d.errorf(v, join(path, "ssh"), msgNotSSHTarget, s)
						return
					}
					node.SSH = s
				}
			}},
			field{"addresses", func(_, v *yaml.Node) {
				addrNode = v
				seen := map[netip.Addr]int{}
				d.list(v, join(path, "addresses"), func(j int, a *yaml.Node) {
					if addr, ok := d.address(a, index(join(path, "addresses"), j)); ok {
						if line, dup := seen[addr]; dup {
							d.errorf(a, index(join(path, "addresses"), j), msgListedTwice, addr, line)
							return
						}
						seen[addr] = a.Line
						node.Addresses = append(node.Addresses, addr)
						ref.addrs = append(ref.addrs, a)
						ref.addrPath = append(ref.addrPath, index(join(path, "addresses"), j))
					}
				})
			}},
		)
		if item.Kind != yaml.MappingNode {
			return
		}
		if nameNode == nil {
			d.errorf(item, path, msgNodeWithoutName)
		}
		if roleNode == nil {
			d.errorf(item, path, msgNodeWithoutRole)
		}
		if addrNode == nil {
			d.errorf(item, path, msgNodeWithoutAddress)
		} else if isNull(addrNode) || (addrNode.Kind == yaml.SequenceNode && len(addrNode.Content) == 0) {
			d.errorf(addrNode, join(path, "addresses"), msgNodeWithoutAddress)
		}
		// Every node is kept for the cross-checks (its addresses against the
		// other nodes'), even one whose name or role is missing: a second
		// mistake is reported beside the first, not hidden behind it.
		d.refs[node] = ref
		r.nodes = append(r.nodes, node)
	})
}

func (d *decoder) pools(n *yaml.Node, r *raw) {
	d.list(n, report.At("pools"), func(i int, item *yaml.Node) {
		path := index(report.At("pools"), i)
		pool := &Pool{Pos: d.pos(item)}
		ref := &refs{path: path}
		var roleNode, cidrNode *yaml.Node
		d.mapping(item, path,
			field{"role", func(_, v *yaml.Node) {
				roleNode = v
				pool.Role, _ = d.str(v, join(path, "role"))
				ref.to = v
			}},
			field{"cidrs", func(_, v *yaml.Node) {
				cidrNode = v
				d.list(v, join(path, "cidrs"), func(j int, c *yaml.Node) {
					if p, ok := d.prefix(c, index(join(path, "cidrs"), j), false); ok {
						pool.CIDRs = append(pool.CIDRs, p)
					}
				})
			}},
		)
		if item.Kind != yaml.MappingNode {
			return
		}
		if roleNode == nil {
			d.errorf(item, path, msgPoolWithoutRole)
		}
		if cidrNode == nil {
			d.errorf(item, path, msgPoolWithoutCIDR)
		} else if isNull(cidrNode) || (cidrNode.Kind == yaml.SequenceNode && len(cidrNode.Content) == 0) {
			d.errorf(cidrNode, join(path, "cidrs"), msgPoolWithoutCIDR)
		}
		if pool.Role != "" {
			d.refs[pool] = ref
			r.pools = append(r.pools, pool)
		}
	})
}

func (d *decoder) rules(n *yaml.Node, r *raw) {
	d.list(n, report.At("rules"), func(i int, item *yaml.Node) {
		path := index(report.At("rules"), i)
		rule := &Rule{Pos: d.pos(item), Action: ActionAllow, Origin: "spec"}
		ref := &refs{path: path}
		var fromGiven, toGiven, fromOK, toOK bool
		d.mapping(item, path,
			field{"from", func(_, v *yaml.Node) {
				fromGiven = true
				if s, ok := d.str(v, join(path, "from")); ok {
					ref.from, fromOK = v, true
					rule.From = s
				}
			}},
			field{"to", func(_, v *yaml.Node) {
				toGiven = true
				if s, ok := d.str(v, join(path, "to")); ok {
					ref.to, toOK = v, true
					rule.To = s
				}
			}},
			field{"ports", func(_, v *yaml.Node) { rule.Ports = d.ports(v, join(path, "ports")) }},
			field{"action", func(_, v *yaml.Node) {
				rule.Action, _ = d.oneOf(v, join(path, "action"), ActionAllow, ActionDeny)
			}},
		)
		if item.Kind != yaml.MappingNode {
			return
		}
		if !fromGiven {
			d.errorf(item, path, msgRuleWithoutFrom)
		}
		if !toGiven {
			d.errorf(item, path, msgRuleWithoutTo)
		}
		if fromOK && toOK {
			d.refs[rule] = ref
			r.rules = append(r.rules, rule)
		}
	})
}

func (d *decoder) overlays(k, v *yaml.Node, r *raw) {
	r.overlays.Pos = d.pos(k)
	d.mapping(v, report.At("overlays"),
		field{"networks", func(_, v *yaml.Node) {
			d.pairs(v, report.At("overlays", "networks"), func(k, v *yaml.Node) {
				path := join(report.At("overlays", "networks"), k.Value)
				r.overlayNames[k.Value] = true
				name, ok := d.name(k, path, "overlay")
				if !ok {
					return
				}
				if p, ok := d.prefix(v, path, false); ok {
					r.overlays.Networks = append(r.overlays.Networks, Overlay{Name: name, Prefix: p, Pos: d.pos(k)})
				}
			})
		}},
		field{"default", func(_, v *yaml.Node) {
			r.overlays.Default, _ = d.oneOf(v, report.At("overlays", "default"), "reject", "accept")
		}},
		field{"allow", func(_, v *yaml.Node) {
			d.list(v, report.At("overlays", "allow"), func(i int, item *yaml.Node) {
				path := index(report.At("overlays", "allow"), i)
				a := OverlayAllow{Pos: d.pos(item)}
				ref := &refs{path: path}
				var fromGiven, toGiven bool
				d.mapping(item, path,
					field{"from", func(_, v *yaml.Node) {
						fromGiven = true
						if s, ok := d.str(v, join(path, "from")); ok {
							a.From, ref.from = s, v
						}
					}},
					field{"to", func(_, v *yaml.Node) {
						toGiven = true
						if s, ok := d.str(v, join(path, "to")); ok {
							a.To, ref.to = s, v
						}
					}},
					field{"ports", func(_, v *yaml.Node) { a.Ports = d.ports(v, join(path, "ports")) }},
				)
				if item.Kind != yaml.MappingNode {
					return
				}
				if !fromGiven || !toGiven {
					d.errorf(item, path, msgOverlayPairIncomplete)
					return
				}
				if ref.from != nil && ref.to != nil {
					d.allowRefs = append(d.allowRefs, ref)
					r.overlays.Allow = append(r.overlays.Allow, a)
				}
			})
		}},
	)
}

// ValidNodeName reports whether s can name a node: a host name of 1 to 63
// characters of a-z, 0-9 and -, not starting or ending with -.
func ValidNodeName(s string) bool { return nodeName.MatchString(s) }

// ValidRoleName reports whether s can name a role: a-z first, at most 16
// characters of a-z, 0-9 and -, and not a word reserved in rules.
func ValidRoleName(s string) bool { return roleName.MatchString(s) && !reserved[s] }

// hostLabel is one label of a DNS host name.
var hostLabel = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`)

// sshTarget reports whether s names a host to connect to: an address, a DNS
// host name, or either with a port (IPv6 in brackets).
func sshTarget(s string) bool {
	if _, err := netip.ParseAddr(s); err == nil {
		return true
	}
	host := s
	if h, port, err := net.SplitHostPort(s); err == nil {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return false
		}
		host = h
		if _, err := netip.ParseAddr(host); err == nil {
			return true
		}
	}
	if host == "" || len(host) > 253 {
		return false
	}
	for _, label := range strings.Split(strings.TrimSuffix(host, "."), ".") {
		if !hostLabel.MatchString(label) {
			return false
		}
	}
	return true
}
