package aws

import (
	"context"
	"fmt"
	"net/netip"
	"sort"
	"strings"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/rampart-cluster/rampart/generator/policy"
	"github.com/rampart-cluster/rampart/generator/report"
)

// groupPlan is what changes in one security group.
type groupPlan struct {
	group  *Group
	id     string // "" until created
	create bool
	tag    bool // exists, but without rampart's tags
	// per direction: rules to authorize, descriptions to update, rule ids to revoke
	authorize map[bool][]Permission   // key: egress
	describe  map[bool][]existingRule // the rule's id, with the description it must have
	revoke    map[bool][]existingRule
	foreign   []Permission // inbound rules rampart leaves alone
	// per direction: revoke before authorizing, because the group would
	// otherwise hold its old and new rules together, over the quota
	revokeFirst map[bool]bool
}

// existingRule is a rule read back from AWS.
type existingRule struct {
	Permission
	id     string
	egress bool
}

// protocols AWS may report by number.
var protoNames = map[string]string{"6": ProtoTCP, "17": ProtoUDP, "1": ProtoICMP, "58": ProtoICMPv6}

func (c *Client) planGroups(ctx context.Context, p *Plan, want func(string) bool) error {
	d := p.Desired
	var names []string
	for _, g := range d.Groups.Groups {
		names = append(names, g.Name)
	}
	found := map[string]types.SecurityGroup{}
	pages := ec2.NewDescribeSecurityGroupsPaginator(c.EC2, &ec2.DescribeSecurityGroupsInput{Filters: []types.Filter{
		{Name: awssdk.String("vpc-id"), Values: []string{d.VPC}},
		{Name: awssdk.String("group-name"), Values: names},
	}})
	for pages.HasMorePages() {
		out, err := pages.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("describing security groups in %s: %w", d.VPC, err)
		}
		for _, sg := range out.SecurityGroups {
			found[awssdk.ToString(sg.GroupName)] = sg
		}
	}
	var conflicts []string
	for _, g := range d.Groups.Groups {
		if sg, ok := found[g.Name]; ok {
			if other := tagValue(sg.Tags, TagCluster); other != "" && other != d.Cluster {
				conflicts = append(conflicts, fmt.Sprintf("security group %s (%s) belongs to cluster %s (tagged %s=%s)", g.Name, awssdk.ToString(sg.GroupId), other, TagCluster, other))
			}
		}
	}
	if len(conflicts) > 0 {
		return &ClusterError{Cluster: d.Cluster, Conflicts: conflicts}
	}
	p.ids = map[string]string{}
	roleOf := map[string]string{} // group id -> role
	for _, g := range d.Groups.Groups {
		if sg, ok := found[g.Name]; ok {
			p.ids[g.Role] = awssdk.ToString(sg.GroupId)
			roleOf[awssdk.ToString(sg.GroupId)] = g.Role
		}
	}
	if err := c.orphanGroups(ctx, p, found); err != nil {
		return err
	}
	var ids []string
	for _, g := range d.Groups.Groups {
		if !want(g.Role) {
			continue
		}
		gp := &groupPlan{group: g, id: p.ids[g.Role]}
		if gp.id == "" {
			gp.create = true
		} else {
			gp.tag = !hasTag(found[g.Name].Tags, TagCluster, d.Cluster) || !hasTag(found[g.Name].Tags, TagRole, g.Role)
			ids = append(ids, gp.id)
		}
		for _, perm := range g.Ingress {
			if r := perm.Peer.Role; r != "" && p.ids[r] == "" && !want(r) {
				return fmt.Errorf("security group %s refers to %s, which %w", g.Name, GroupName(d.Cluster, r), ErrGroupMissing)
			}
		}
		p.groups = append(p.groups, gp)
	}
	existing, err := c.readRules(ctx, ids, roleOf, found)
	if err != nil {
		return err
	}
	for _, gp := range p.groups {
		have := existing[gp.id]
		if gp.create {
			have = defaultEgress()
		}
		diffGroup(gp, have, p)
		if err := checkQuota(gp.group, d.Groups.Quota, gp.foreign...); err != nil {
			return err
		}
		gp.order(have, d.Groups.Quota, p)
		p.Changes = append(p.Changes, gp.changes(d.Cluster)...)
	}
	return nil
}

// order decides, per direction, whether the group's unwanted rampart rules
// are revoked before the new ones are authorized. Authorizing first never
// admits less than both the old and the new rules, but for a moment the
// group holds both: existing rules (rampart's kept and unwanted ones, and
// the rules it leaves alone) plus the additions. When that peak is over the
// quota in a family, AWS refuses the authorization on every push; so those
// revocations come first, and the group briefly admits less, never more.
func (gp *groupPlan) order(have []existingRule, quota int, p *Plan) {
	gp.revokeFirst = map[bool]bool{}
	for _, egress := range []bool{false, true} {
		if len(gp.revoke[egress]) == 0 || len(gp.authorize[egress]) == 0 {
			continue
		}
		peak := map[policy.Family]int{}
		for _, r := range have {
			if r.egress == egress {
				for _, f := range r.Peer.families() {
					peak[f]++
				}
			}
		}
		for _, w := range gp.authorize[egress] {
			for _, f := range w.Peer.families() {
				peak[f]++
			}
		}
		for _, f := range policy.Families {
			if peak[f] > quota {
				gp.revokeFirst[egress] = true
				p.Findings.Append(msgRevokeFirst.At(report.At("roles", gp.group.Role), report.Pos{},
					gp.group.Name, direction(egress), peak[f], f, quota, len(gp.revoke[egress]), direction(egress)))
				break
			}
		}
	}
}

// defaultEgress is the rule AWS gives every new VPC security group.
func defaultEgress() []existingRule {
	return []existingRule{{Permission: Permission{Proto: ProtoAll, From: -1, To: -1, Peer: Peer{CIDR: worldV4}}, egress: true}}
}

// orphanGroups warns about groups tagged with the cluster whose role the
// spec no longer has: rampart does not delete groups (instances may use
// them), it says so.
func (c *Client) orphanGroups(ctx context.Context, p *Plan, found map[string]types.SecurityGroup) error {
	d := p.Desired
	pages := ec2.NewDescribeSecurityGroupsPaginator(c.EC2, &ec2.DescribeSecurityGroupsInput{Filters: []types.Filter{
		{Name: awssdk.String("vpc-id"), Values: []string{d.VPC}},
		{Name: awssdk.String("tag:" + TagCluster), Values: []string{d.Cluster}},
	}})
	var orphans []report.Entry
	for pages.HasMorePages() {
		out, err := pages.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("describing security groups of cluster %s: %w", d.Cluster, err)
		}
		for _, sg := range out.SecurityGroups {
			if _, ok := found[awssdk.ToString(sg.GroupName)]; !ok {
				orphans = append(orphans, msgOrphanGroup.At(nil, report.Pos{},
					awssdk.ToString(sg.GroupName), awssdk.ToString(sg.GroupId), TagCluster, d.Cluster))
			}
		}
	}
	sort.Slice(orphans, func(i, j int) bool { return orphans[i].Message < orphans[j].Message })
	p.Findings.Append(orphans...)
	return nil
}

// tagValue is the value of the tag k, "" when there is none.
func tagValue(tags []types.Tag, k string) string {
	for _, t := range tags {
		if awssdk.ToString(t.Key) == k {
			return awssdk.ToString(t.Value)
		}
	}
	return ""
}

// groupMadeFor returns the id of the VPC's group named like g when it carries
// the cluster's and the role's tags, else "".
func (c *Client) groupMadeFor(ctx context.Context, d *Desired, g *Group) string {
	out, err := c.EC2.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: []types.Filter{
		{Name: awssdk.String("group-name"), Values: []string{g.Name}},
		{Name: awssdk.String("vpc-id"), Values: []string{d.VPC}},
	}})
	if err != nil || len(out.SecurityGroups) != 1 {
		return ""
	}
	sg := out.SecurityGroups[0]
	if !hasTag(sg.Tags, TagCluster, d.Cluster) || !hasTag(sg.Tags, TagRole, g.Role) {
		return ""
	}
	return awssdk.ToString(sg.GroupId)
}

func hasTag(tags []types.Tag, k, v string) bool {
	for _, t := range tags {
		if awssdk.ToString(t.Key) == k && awssdk.ToString(t.Value) == v {
			return true
		}
	}
	return false
}

// readRules reads the rules of the groups, by group id. Descriptions of
// rules that reference a group come from DescribeSecurityGroups where
// DescribeSecurityGroupRules has none (moto leaves them out).
func (c *Client) readRules(ctx context.Context, ids []string, roleOf map[string]string, groups map[string]types.SecurityGroup) (map[string][]existingRule, error) {
	out := map[string][]existingRule{}
	if len(ids) == 0 {
		return out, nil
	}
	described := map[string]string{} // group id + key -> description
	for _, sg := range groups {
		gid := awssdk.ToString(sg.GroupId)
		for egress, perms := range map[bool][]types.IpPermission{false: sg.IpPermissions, true: sg.IpPermissionsEgress} {
			for _, ip := range perms {
				for _, pair := range ip.UserIdGroupPairs {
					perm := permission(awssdk.ToString(ip.IpProtocol), ip.FromPort, ip.ToPort, peerOf(nil, nil, awssdk.ToString(pair.GroupId), "", roleOf))
					described[fmt.Sprint(gid, egress, perm.Key())] = awssdk.ToString(pair.Description)
				}
			}
		}
	}
	pages := ec2.NewDescribeSecurityGroupRulesPaginator(c.EC2, &ec2.DescribeSecurityGroupRulesInput{Filters: []types.Filter{
		{Name: awssdk.String("group-id"), Values: ids},
	}})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("describing security group rules: %w", err)
		}
		for _, r := range page.SecurityGroupRules {
			ref := ""
			if r.ReferencedGroupInfo != nil {
				ref = awssdk.ToString(r.ReferencedGroupInfo.GroupId)
			}
			perm := permission(awssdk.ToString(r.IpProtocol), r.FromPort, r.ToPort, peerOf(r.CidrIpv4, r.CidrIpv6, ref, awssdk.ToString(r.PrefixListId), roleOf))
			perm.Description = awssdk.ToString(r.Description)
			gid, egress := awssdk.ToString(r.GroupId), awssdk.ToBool(r.IsEgress)
			if perm.Description == "" {
				perm.Description = described[fmt.Sprint(gid, egress, perm.Key())]
			}
			out[gid] = append(out[gid], existingRule{Permission: perm, id: awssdk.ToString(r.SecurityGroupRuleId), egress: egress})
		}
	}
	return out, nil
}

// permission normalises a rule read from AWS: protocol names, and no ports
// for all traffic.
func permission(proto string, from, to *int32, peer Peer) Permission {
	if n, ok := protoNames[proto]; ok {
		proto = n
	}
	p := Permission{Proto: proto, From: awssdk.ToInt32(from), To: awssdk.ToInt32(to), Peer: peer}
	if proto == ProtoAll {
		p.From, p.To = -1, -1
	}
	if proto == ProtoICMPv6 && from == nil {
		p.From, p.To = -1, -1
	}
	return p
}

func peerOf(v4, v6 *string, group, list string, roleOf map[string]string) Peer {
	for _, s := range []*string{v4, v6} {
		if s != nil {
			if p, err := netip.ParsePrefix(*s); err == nil {
				return Peer{CIDR: p.Masked()}
			}
		}
	}
	if group != "" {
		if r, ok := roleOf[group]; ok {
			return Peer{Role: r}
		}
		return Peer{GroupID: group}
	}
	return Peer{List: list}
}

// diffGroup compares the desired rules of a group with those it has: what is
// missing is authorized, rampart's rules with another description get the
// new one, rampart's rules no longer wanted are revoked, and every other
// rule is left alone with a warning (unless it is what rampart wants).
func diffGroup(gp *groupPlan, have []existingRule, p *Plan) {
	gp.authorize = map[bool][]Permission{}
	gp.describe = map[bool][]existingRule{}
	gp.revoke = map[bool][]existingRule{}
	for _, egress := range []bool{false, true} {
		wanted := gp.group.Ingress
		if egress {
			wanted = gp.group.Egress
		}
		byKey := map[string][]existingRule{}
		for _, r := range have {
			if r.egress == egress {
				byKey[r.Key()] = append(byKey[r.Key()], r)
			}
		}
		wantKeys := map[string]bool{}
		for _, w := range wanted {
			wantKeys[w.Key()] = true
			rs := byKey[w.Key()]
			switch {
			case len(rs) == 0:
				gp.authorize[egress] = append(gp.authorize[egress], w)
			case rs[0].Owned() && rs[0].Description != w.Description:
				gp.describe[egress] = append(gp.describe[egress], existingRule{Permission: w, id: rs[0].id, egress: egress})
			}
		}
		for _, r := range have {
			if r.egress != egress || wantKeys[r.Key()] {
				continue
			}
			if r.Owned() {
				gp.revoke[egress] = append(gp.revoke[egress], r)
				continue
			}
			if svcs := exposedControlPlane(r.Permission); !egress && len(svcs) > 0 {
				p.Findings.Append(MsgForeignExposure.At(report.At("roles", gp.group.Role), report.Pos{},
					gp.group.Name, r.Ports(), r.Peer, r.Description, strings.Join(svcs, ", ")))
			} else {
				p.Findings.Append(msgForeignRule.At(report.At("roles", gp.group.Role), report.Pos{},
					gp.group.Name, direction(egress), r.Ports(), r.Peer, r.Description))
			}
			if !egress {
				gp.foreign = append(gp.foreign, r.Permission)
			}
		}
		sortPermissions(gp.authorize[egress])
		for _, rs := range []map[bool][]existingRule{gp.describe, gp.revoke} {
			sort.Slice(rs[egress], func(i, j int) bool { return rs[egress][i].Key() < rs[egress][j].Key() })
		}
	}
}

// exposedControlPlane lists the control-plane services of policy's
// catalog (those that take orders without authentication) that an inbound
// rule opens to the whole world (0.0.0.0/0 or ::/0): "Marathon tcp 8080".
func exposedControlPlane(perm Permission) []string {
	if !perm.Peer.CIDR.IsValid() || perm.Peer.CIDR.Bits() != 0 {
		return nil
	}
	var out []string
	for _, svc := range policy.Catalog {
		if svc.ControlPlane && (perm.Proto == ProtoAll || perm.Proto == string(svc.Proto) && perm.From <= int32(svc.Port) && int32(svc.Port) <= perm.To) {
			out = append(out, fmt.Sprintf("%s %s %d", svc.Name, svc.Proto, svc.Port))
		}
	}
	return out
}

func direction(egress bool) string {
	if egress {
		return "egress"
	}
	return "ingress"
}

func ruleDetail(perm Permission, egress bool) string {
	dir := "from"
	if egress {
		dir = "to"
	}
	s := fmt.Sprintf("%s %s %s", perm.Ports(), dir, perm.Peer)
	if perm.Description != "" {
		s += " (" + strings.TrimSpace(strings.TrimPrefix(perm.Description, Owned)) + ")"
	}
	return s
}

// changes lists the group's plan in a stable order.
func (gp *groupPlan) changes(cluster string) []Change {
	var out []Change
	name := gp.group.Name
	if gp.create {
		out = append(out, Change{Op: "create", Kind: "security-group", Target: name, Detail: fmt.Sprintf("role %s, tagged %s=%s, %s=%s", gp.group.Role, TagCluster, cluster, TagRole, gp.group.Role)})
	}
	if gp.tag {
		out = append(out, Change{Op: "tag", Kind: "security-group", Target: name, Detail: fmt.Sprintf("%s=%s, %s=%s", TagCluster, cluster, TagRole, gp.group.Role)})
	}
	revoke := func(egress bool) {
		for _, r := range gp.revoke[egress] {
			out = append(out, Change{Op: "revoke", Kind: direction(egress), Target: name, Detail: ruleDetail(r.Permission, egress)})
		}
	}
	for _, egress := range []bool{false, true} {
		if gp.revokeFirst[egress] {
			revoke(egress)
		}
		for _, w := range gp.authorize[egress] {
			out = append(out, Change{Op: "authorize", Kind: direction(egress), Target: name, Detail: ruleDetail(w, egress)})
		}
		for _, r := range gp.describe[egress] {
			out = append(out, Change{Op: "describe", Kind: direction(egress), Target: name, Detail: ruleDetail(r.Permission, egress)})
		}
		if !gp.revokeFirst[egress] {
			revoke(egress)
		}
	}
	return out
}

// ipPermission is the API form of a rule; group references need the ids.
func ipPermission(perm Permission, ids map[string]string) (types.IpPermission, error) {
	ip := types.IpPermission{IpProtocol: awssdk.String(perm.Proto)}
	if perm.Proto != ProtoAll {
		ip.FromPort, ip.ToPort = awssdk.Int32(perm.From), awssdk.Int32(perm.To)
	}
	desc := awssdk.String(perm.Description)
	switch {
	case perm.Peer.CIDR.IsValid() && perm.Peer.CIDR.Addr().Is4():
		ip.IpRanges = []types.IpRange{{CidrIp: awssdk.String(perm.Peer.CIDR.String()), Description: desc}}
	case perm.Peer.CIDR.IsValid():
		ip.Ipv6Ranges = []types.Ipv6Range{{CidrIpv6: awssdk.String(perm.Peer.CIDR.String()), Description: desc}}
	case perm.Peer.Role != "":
		id := ids[perm.Peer.Role]
		if id == "" {
			return ip, fmt.Errorf("no security group for role %s", perm.Peer.Role)
		}
		ip.UserIdGroupPairs = []types.UserIdGroupPair{{GroupId: awssdk.String(id), Description: desc}}
	default:
		return ip, fmt.Errorf("rampart does not write rules for %s", perm.Peer)
	}
	return ip, nil
}

func (c *Client) applyGroups(ctx context.Context, p *Plan, done *[]Change) error {
	d := p.Desired
	for _, gp := range p.groups {
		if !gp.create {
			continue
		}
		out, err := c.EC2.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{
			GroupName:   awssdk.String(gp.group.Name),
			Description: awssdk.String(fmt.Sprintf("rampart: role %s of cluster %s", gp.group.Role, d.Cluster)),
			VpcId:       awssdk.String(d.VPC),
			TagSpecifications: []types.TagSpecification{{
				ResourceType: types.ResourceTypeSecurityGroup,
				Tags:         groupTags(d.Cluster, gp.group),
			}},
		})
		switch {
		case err == nil:
			gp.id = awssdk.ToString(out.GroupId)
		case isCode(err, "InvalidGroup.Duplicate"):
			// a retry of a create whose answer was lost: the group is ours
			// when it carries this cluster's and role's tags
			if gp.id = c.groupMadeFor(ctx, d, gp.group); gp.id == "" {
				return fmt.Errorf("creating security group %s: %w", gp.group.Name, err)
			}
		default:
			return fmt.Errorf("creating security group %s: %w", gp.group.Name, err)
		}
		p.ids[gp.group.Role] = gp.id
		*done = append(*done, Change{Op: "create", Kind: "security-group", Target: gp.group.Name, Detail: gp.id})
		// AWS gives a new group default rules (IPv4 egress, and IPv6 egress
		// in a VPC with IPv6): plan its rules from what it really has
		existing, err := c.readRules(ctx, []string{gp.id}, map[string]string{}, nil)
		if err != nil {
			return err
		}
		var ignored Plan
		diffGroup(gp, existing[gp.id], &ignored)
	}
	for _, gp := range p.groups {
		name := gp.group.Name
		if gp.tag {
			if _, err := c.EC2.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{gp.id}, Tags: groupTags(d.Cluster, gp.group)}); err != nil {
				return fmt.Errorf("tagging security group %s: %w", name, err)
			}
			*done = append(*done, Change{Op: "tag", Kind: "security-group", Target: name})
		}
		for _, egress := range []bool{false, true} {
			if gp.revokeFirst[egress] {
				if err := c.revokeRules(ctx, gp, egress, done); err != nil {
					return err
				}
			}
			if perms := gp.authorize[egress]; len(perms) > 0 {
				ips, err := ipPermissions(perms, p.ids)
				if err != nil {
					return fmt.Errorf("security group %s: %w", name, err)
				}
				if egress {
					_, err = c.EC2.AuthorizeSecurityGroupEgress(ctx, &ec2.AuthorizeSecurityGroupEgressInput{GroupId: awssdk.String(gp.id), IpPermissions: ips})
				} else {
					_, err = c.EC2.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: awssdk.String(gp.id), IpPermissions: ips})
				}
				if err != nil {
					if isCode(err, "RulesPerSecurityGroupLimitExceeded") {
						err = &RuleLimitError{Group: name, Quota: d.Groups.Quota, Err: err}
					}
					return fmt.Errorf("authorizing %d %s rules in security group %s: %w", len(ips), direction(egress), name, err)
				}
				for _, w := range perms {
					*done = append(*done, Change{Op: "authorize", Kind: direction(egress), Target: name, Detail: ruleDetail(w, egress)})
				}
			}
			if rs := gp.describe[egress]; len(rs) > 0 {
				// by rule id: UpdateSecurityGroupRuleDescriptions* cannot
				// change the description of a rule that references a group in
				// moto; ModifySecurityGroupRules does, in AWS and in moto
				var reqs []types.SecurityGroupRuleUpdate
				for _, r := range rs {
					req, err := ruleRequest(r.Permission, p.ids)
					if err != nil {
						return fmt.Errorf("security group %s: %w", name, err)
					}
					reqs = append(reqs, types.SecurityGroupRuleUpdate{SecurityGroupRuleId: awssdk.String(r.id), SecurityGroupRule: req})
				}
				if _, err := c.EC2.ModifySecurityGroupRules(ctx, &ec2.ModifySecurityGroupRulesInput{GroupId: awssdk.String(gp.id), SecurityGroupRules: reqs}); err != nil {
					return fmt.Errorf("updating %d rule descriptions in security group %s: %w", len(reqs), name, err)
				}
				for _, r := range rs {
					*done = append(*done, Change{Op: "describe", Kind: direction(egress), Target: name, Detail: ruleDetail(r.Permission, egress)})
				}
			}
		}
	}
	// revoke last: what is no longer wanted goes once what is wanted is in
	for _, gp := range p.groups {
		for _, egress := range []bool{false, true} {
			if gp.revokeFirst[egress] {
				continue
			}
			if err := c.revokeRules(ctx, gp, egress, done); err != nil {
				return err
			}
		}
	}
	return nil
}

// revokeRules revokes the group's rampart rules no longer wanted in one
// direction, by rule id.
func (c *Client) revokeRules(ctx context.Context, gp *groupPlan, egress bool, done *[]Change) error {
	rs := gp.revoke[egress]
	if len(rs) == 0 {
		return nil
	}
	var ids []string
	for _, r := range rs {
		ids = append(ids, r.id)
	}
	var err error
	if egress {
		_, err = c.EC2.RevokeSecurityGroupEgress(ctx, &ec2.RevokeSecurityGroupEgressInput{GroupId: awssdk.String(gp.id), SecurityGroupRuleIds: ids})
	} else {
		_, err = c.EC2.RevokeSecurityGroupIngress(ctx, &ec2.RevokeSecurityGroupIngressInput{GroupId: awssdk.String(gp.id), SecurityGroupRuleIds: ids})
	}
	if err != nil {
		return fmt.Errorf("revoking %d %s rules in security group %s: %w", len(ids), direction(egress), gp.group.Name, err)
	}
	for _, r := range rs {
		*done = append(*done, Change{Op: "revoke", Kind: direction(egress), Target: gp.group.Name, Detail: ruleDetail(r.Permission, egress)})
	}
	return nil
}

// ruleRequest is the API form of a rule for ModifySecurityGroupRules.
func ruleRequest(perm Permission, ids map[string]string) (*types.SecurityGroupRuleRequest, error) {
	req := &types.SecurityGroupRuleRequest{IpProtocol: awssdk.String(perm.Proto), FromPort: awssdk.Int32(perm.From), ToPort: awssdk.Int32(perm.To), Description: awssdk.String(perm.Description)}
	switch {
	case perm.Peer.CIDR.IsValid() && perm.Peer.CIDR.Addr().Is4():
		req.CidrIpv4 = awssdk.String(perm.Peer.CIDR.String())
	case perm.Peer.CIDR.IsValid():
		req.CidrIpv6 = awssdk.String(perm.Peer.CIDR.String())
	case perm.Peer.Role != "" && ids[perm.Peer.Role] != "":
		req.ReferencedGroupId = awssdk.String(ids[perm.Peer.Role])
	default:
		return nil, fmt.Errorf("rampart does not write rules for %s", perm.Peer)
	}
	return req, nil
}

func ipPermissions(perms []Permission, ids map[string]string) ([]types.IpPermission, error) {
	var out []types.IpPermission
	for _, perm := range perms {
		ip, err := ipPermission(perm, ids)
		if err != nil {
			return nil, err
		}
		out = append(out, ip)
	}
	return out, nil
}

func groupTags(cluster string, g *Group) []types.Tag {
	return []types.Tag{
		{Key: awssdk.String("Name"), Value: awssdk.String(g.Name)},
		{Key: awssdk.String(TagCluster), Value: awssdk.String(cluster)},
		{Key: awssdk.String(TagRole), Value: awssdk.String(g.Role)},
	}
}
