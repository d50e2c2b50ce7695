package spec

import (
	"regexp"

	"github.com/rampart-cluster/rampart/generator/report"
	"gopkg.in/yaml.v3"
)

// Provider says where the cluster's machines live, for `rampart push` and
// `rampart inventory`. At most one provider is named; credentials never come
// from the spec but from each ecosystem's own environment.
type Provider struct {
	AWS    *AWS    // nil unless provider.aws is given
	Packet *Packet // nil unless provider.packet is given
	Pos    Pos     // where provider: was written
}

// Name is "aws", "packet" or "" when the spec names no provider.
func (p Provider) Name() string {
	switch {
	case p.AWS != nil:
		return "aws"
	case p.Packet != nil:
		return "packet"
	}
	return ""
}

// DefaultRuleQuota is AWS's default number of inbound rules per security
// group and address family.
const DefaultRuleQuota = 60

// AWS places the cluster in one region and VPC; userdata too large for EC2
// goes to Bucket.
type AWS struct {
	Region    string // AWS region, e.g. us-east-1
	VPC       string // VPC id the security groups belong to, e.g. vpc-0a1b2c3d
	Bucket    string // optional: S3 bucket for Ignition configs over 16 KB
	RuleQuota int    // inbound rules per security group and family
	Pos       Pos    // where aws: was written under provider
}

// Packet places the cluster in one Packet (Equinix Metal) project.
type Packet struct {
	Project string // project UUID
	Metro   string // metro code, e.g. da
	Plan    string // device plan, e.g. c3.small.x86
	OS      string // operating system slug, e.g. flatcar_stable
	Pos     Pos    // where packet: was written under provider
}

var (
	awsRegion    = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}$`)
	awsVPC       = regexp.MustCompile(`^vpc-([0-9a-f]{8}|[0-9a-f]{17})$`)
	s3Bucket     = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)
	uuidPattern  = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	packetMetro  = regexp.MustCompile(`^[a-z]{2}$`)
	packetPlan   = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{0,63}$`)
	packetOSSlug = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,63}$`)
)

// provider decodes the provider: section.
func (d *decoder) provider(k, v *yaml.Node, p *Provider) {
	p.Pos = d.pos(k)
	var named []*yaml.Node
	d.mapping(v, report.At("provider"),
		field{"aws", func(k, v *yaml.Node) {
			named = append(named, k)
			a := &AWS{Pos: d.pos(k), RuleQuota: DefaultRuleQuota}
			var region, vpc *yaml.Node
			d.mapping(v, report.At("provider", "aws"),
				field{"region", func(_, v *yaml.Node) {
					region = v
					a.Region = d.match(v, report.At("provider", "aws", "region"), awsRegion, "an AWS region such as us-east-1")
				}},
				field{"vpc", func(_, v *yaml.Node) {
					vpc = v
					a.VPC = d.match(v, report.At("provider", "aws", "vpc"), awsVPC, "a VPC id such as vpc-0a1b2c3d")
				}},
				field{"bucket", func(_, v *yaml.Node) {
					a.Bucket = d.match(v, report.At("provider", "aws", "bucket"), s3Bucket, "an S3 bucket name (3 to 63 characters of a-z, 0-9, . and -)")
				}},
				field{"rule_quota", func(_, v *yaml.Node) {
					if n, ok := d.integer(v, report.At("provider", "aws", "rule_quota")); ok {
						if n < 1 || n > 1000 {
							d.errorf(v, report.At("provider", "aws", "rule_quota"), msgRuleQuota, n)
							return
						}
						a.RuleQuota = int(n)
					}
				}},
			)
			if v.Kind == yaml.MappingNode {
				d.required(k, report.At("provider", "aws"), region, "region", "the AWS region to push to")
				d.required(k, report.At("provider", "aws"), vpc, "vpc", "the VPC the security groups belong to")
			}
			p.AWS = a
		}},
		field{"packet", func(k, v *yaml.Node) {
			named = append(named, k)
			pk := &Packet{Pos: d.pos(k)}
			var project, metro, plan, osSlug *yaml.Node
			d.mapping(v, report.At("provider", "packet"),
				field{"project", func(_, v *yaml.Node) {
					project = v
					pk.Project = d.match(v, report.At("provider", "packet", "project"), uuidPattern, "a project UUID")
				}},
				field{"metro", func(_, v *yaml.Node) {
					metro = v
					pk.Metro = d.match(v, report.At("provider", "packet", "metro"), packetMetro, "a two-letter metro code such as da")
				}},
				field{"plan", func(_, v *yaml.Node) {
					plan = v
					pk.Plan = d.match(v, report.At("provider", "packet", "plan"), packetPlan, "a plan slug such as c3.small.x86")
				}},
				field{"os", func(_, v *yaml.Node) {
					osSlug = v
					pk.OS = d.match(v, report.At("provider", "packet", "os"), packetOSSlug, "an operating system slug such as flatcar_stable")
				}},
			)
			if v.Kind == yaml.MappingNode {
				d.required(k, report.At("provider", "packet"), project, "project", "the project UUID the devices belong to")
				d.required(k, report.At("provider", "packet"), metro, "metro", "where new devices are created")
				d.required(k, report.At("provider", "packet"), plan, "plan", "the device plan for new devices")
				d.required(k, report.At("provider", "packet"), osSlug, "os", "the operating system slug for new devices")
			}
			p.Packet = pk
		}},
	)
	if len(named) > 1 {
		d.errorf(named[1], report.At("provider"), msgSecondProvider, named[1].Value, named[0].Value)
	}
}

// match returns the string value of n when it matches re, and reports an
// error naming what was expected otherwise.
func (d *decoder) match(n *yaml.Node, path report.Path, re *regexp.Regexp, want string) string {
	s, ok := d.str(n, path)
	if !ok {
		return ""
	}
	if !re.MatchString(s) {
		d.errorf(n, path, msgNotMatching, s, want)
		return ""
	}
	return s
}

// required reports a key missing from the mapping under the key k.
func (d *decoder) required(k *yaml.Node, path report.Path, got *yaml.Node, key, what string) {
	if got == nil {
		d.errorf(k, path, msgRequiredMissing, key, what)
	}
}
