package aws

// Launch templates: one per role or etcd member, with its userdata, group
// and metadata options, versioned only when one of those changed.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/rampart-cluster/rampart/generator/report"
)

// madeForCluster returns the id of the launch template named name when it
// carries the cluster's tag, else "".
func (c *Client) madeForCluster(ctx context.Context, name, cluster string) string {
	out, err := c.EC2.DescribeLaunchTemplates(ctx, &ec2.DescribeLaunchTemplatesInput{LaunchTemplateNames: []string{name}})
	if err != nil || len(out.LaunchTemplates) != 1 {
		return ""
	}
	lt := out.LaunchTemplates[0]
	if !hasTag(lt.Tags, TagCluster, cluster) || awssdk.ToInt64(lt.LatestVersionNumber) != 1 {
		return ""
	}
	return awssdk.ToString(lt.LaunchTemplateId)
}

// templatePlan is what changes in one launch template.
type templatePlan struct {
	t       *Template
	id      string // "" when it is created
	version bool   // a new default version (of an existing template)
	tagCA   bool   // the TagEtcdCA tag is missing or names another CA (with NewCA)
	source  int64  // the default version a new version is based on
	reuse   int64  // a newer version that is already what is wanted: made the default, no new version
	foreign []string
	nics    []types.LaunchTemplateInstanceNetworkInterfaceSpecification // the source version's, when its groups are on them
	primary int                                                         // the index in nics of the primary interface
}

func (c *Client) planTemplates(ctx context.Context, p *Plan, want func(string) bool, newCA bool) error {
	var names []string
	for _, t := range p.Desired.Templates {
		if want(t.Role) {
			names = append(names, t.Name)
		}
	}
	if len(names) == 0 {
		return nil
	}
	// only with PlanOptions.AllowKeysInUserdata: Plan refuses them otherwise
	if exposed := keysInUserdata(p.Desired, want).Templates; len(exposed) > 0 {
		p.Findings.Append(msgKeysInUserdata.At(nil, report.Pos{}, strings.Join(exposed, ", ")))
	}
	existing := map[string]types.LaunchTemplate{}
	if err := c.describeTemplates(ctx, types.Filter{Name: awssdk.String("launch-template-name"), Values: names}, existing); err != nil {
		return err
	}
	// the cluster's other templates, for the CA check
	ofCluster := map[string]types.LaunchTemplate{}
	if !newCA && slices.ContainsFunc(p.Desired.Templates, func(t *Template) bool { return t.EtcdCA != "" && want(t.Role) }) {
		if err := c.describeTemplates(ctx, types.Filter{Name: awssdk.String("tag:" + TagCluster), Values: []string{p.Desired.Cluster}}, ofCluster); err != nil {
			return err
		}
	}
	if err := c.liveTags(ctx, existing, ofCluster); err != nil {
		return err
	}
	var conflicts []string
	for _, t := range p.Desired.Templates {
		if lt, ok := existing[t.Name]; ok {
			if other := tagValue(lt.Tags, TagCluster); other != "" && other != p.Desired.Cluster {
				conflicts = append(conflicts, fmt.Sprintf("launch template %s (%s) belongs to cluster %s (tagged %s=%s)", t.Name, awssdk.ToString(lt.LaunchTemplateId), other, TagCluster, other))
			}
		}
	}
	if len(conflicts) > 0 {
		return &ClusterError{Cluster: p.Desired.Cluster, Conflicts: conflicts}
	}
	maps.Copy(ofCluster, existing)
	if err := checkCA(p, ofCluster, want, newCA); err != nil {
		return err
	}
	rampartIDs := map[string]bool{}
	for _, id := range p.ids {
		rampartIDs[id] = true
	}
	for _, t := range p.Desired.Templates {
		if !want(t.Role) {
			continue
		}
		lt, ok := existing[t.Name]
		if !ok {
			p.tmpls = append(p.tmpls, &templatePlan{t: t})
			p.Changes = append(p.Changes, Change{Op: "create", Kind: "launch-template", Target: t.Name, Detail: templateDetail(t, GroupName(p.Desired.Cluster, t.Role))})
			continue
		}
		id := awssdk.ToString(lt.LaunchTemplateId)
		out, err := c.EC2.DescribeLaunchTemplateVersions(ctx, &ec2.DescribeLaunchTemplateVersionsInput{LaunchTemplateId: awssdk.String(id), Versions: []string{"$Default", "$Latest"}})
		if err != nil {
			return fmt.Errorf("describing the default version of launch template %s: %w", t.Name, err)
		}
		var def, latest *types.LaunchTemplateVersion
		for i, v := range out.LaunchTemplateVersions {
			if awssdk.ToBool(v.DefaultVersion) {
				def = &out.LaunchTemplateVersions[i]
			}
			if latest == nil || awssdk.ToInt64(v.VersionNumber) > awssdk.ToInt64(latest.VersionNumber) {
				latest = &out.LaunchTemplateVersions[i]
			}
		}
		if def == nil {
			return fmt.Errorf("launch template %s (%s) has no default version", t.Name, id)
		}
		tp := &templatePlan{t: t, id: id, source: awssdk.ToInt64(def.VersionNumber)}
		tp.tagCA = t.EtcdCA != "" && tagValue(lt.Tags, TagEtcdCA) != t.EtcdCA
		var why []string
		why, tp.foreign, tp.nics, tp.primary = differs(t, def.LaunchTemplateData, p.ids[t.Role], rampartIDs, GroupName(p.Desired.Cluster, t.Role))
		if n := awssdk.ToInt64(latest.VersionNumber); len(why) > 0 && n > tp.source {
			// a version an earlier push made but could not make the
			// default (ModifyLaunchTemplate failed): reuse it
			if again, _, _, _ := differs(t, latest.LaunchTemplateData, p.ids[t.Role], rampartIDs, ""); len(again) == 0 && p.ids[t.Role] != "" {
				tp.reuse = n
				p.tmpls = append(p.tmpls, tp)
				p.Changes = append(p.Changes, Change{Op: "version", Kind: "launch-template", Target: t.Name,
					Detail: fmt.Sprintf("make version %d, made before with what is wanted, the default instead of version %d: %s", n, tp.source, strings.Join(why, ", "))})
				if tp.tagCA {
					p.Changes = append(p.Changes, Change{Op: "tag", Kind: "launch-template", Target: t.Name, Detail: TagEtcdCA + "=" + t.EtcdCA})
				}
				continue
			}
		}
		tp.version = len(why) > 0
		if !tp.version && !tp.tagCA {
			continue
		}
		p.tmpls = append(p.tmpls, tp)
		if tp.version {
			p.Changes = append(p.Changes, Change{Op: "version", Kind: "launch-template", Target: t.Name,
				Detail: fmt.Sprintf("new default version from version %d: %s", tp.source, strings.Join(why, ", "))})
		}
		if tp.tagCA {
			p.Changes = append(p.Changes, Change{Op: "tag", Kind: "launch-template", Target: t.Name, Detail: TagEtcdCA + "=" + t.EtcdCA})
		}
	}
	return nil
}

// imdsHopLimit is the launch templates' HttpPutResponseHopLimit: an IMDSv2
// token answer does not survive the extra hop of a container behind the
// node's NAT, so containers cannot read the userdata (etcd keys on members
// and etcd clients) from the instance metadata service.
const imdsHopLimit = 1

// differs says what of a template version's data is not what t wants: the
// userdata, the role's group (ours; "" while it does not exist) with the
// other, non-rampart groups kept (foreign), IMDSv2 with hop limit 1. Where
// the version puts its groups on network interfaces (EC2 refuses
// instance-level groups beside them), the groups are the primary
// interface's (nics[primary]).
func differs(t *Template, data *types.ResponseLaunchTemplateData, ours string, rampartIDs map[string]bool, groupName string) (why, foreign []string, nics []types.LaunchTemplateInstanceNetworkInterfaceSpecification, primary int) {
	if data == nil {
		data = &types.ResponseLaunchTemplateData{}
	}
	got, err := base64.StdEncoding.DecodeString(awssdk.ToString(data.UserData))
	if err != nil || !bytes.Equal(got, t.Userdata) {
		why = append(why, fmt.Sprintf("userdata differs (now %d bytes, was %d)", len(t.Userdata), len(got)))
	}
	groups := data.SecurityGroupIds
	nics = data.NetworkInterfaces
	if len(nics) > 0 {
		for i, n := range nics {
			if awssdk.ToInt32(n.DeviceIndex) == 0 {
				primary = i
				break
			}
		}
		groups = nics[primary].Groups
		if len(data.SecurityGroupIds) > 0 {
			why = append(why, "security groups on the instance beside network interfaces")
		}
	}
	for _, g := range groups {
		if !rampartIDs[g] {
			foreign = append(foreign, g)
		}
	}
	if ours == "" || !slices.Contains(groups, ours) || len(groups) != len(foreign)+1 {
		why = append(why, "security group "+groupName)
	}
	mo := data.MetadataOptions
	if mo == nil {
		mo = &types.LaunchTemplateInstanceMetadataOptions{}
	}
	if mo.HttpTokens != types.LaunchTemplateHttpTokensStateRequired {
		why = append(why, "instance metadata v2 required")
	}
	if hop := mo.HttpPutResponseHopLimit; awssdk.ToInt32(hop) != imdsHopLimit {
		was := "unset"
		if hop != nil {
			was = strconv.Itoa(int(*hop))
		}
		why = append(why, fmt.Sprintf("instance metadata hop limit %d, was %s (so that no container behind the node's NAT gets an IMDSv2 token and reads the userdata)", imdsHopLimit, was))
	}
	return why, foreign, nics, primary
}

// nicRequests turns a version's network interfaces into the request form
// (the types differ only in name: JSON carries every field over), with the
// groups on the primary one.
func nicRequests(nics []types.LaunchTemplateInstanceNetworkInterfaceSpecification, primary int, groups []string) ([]types.LaunchTemplateInstanceNetworkInterfaceSpecificationRequest, error) {
	data, err := json.Marshal(nics)
	if err != nil {
		return nil, err
	}
	var out []types.LaunchTemplateInstanceNetworkInterfaceSpecificationRequest
	if err := json.Unmarshal(data, &out); err != nil {
		return nil, err
	}
	out[primary].Groups = groups
	return out, nil
}

// checkCA compares the etcd CA of the machines with keys with the CA the
// cluster's launch templates at AWS are tagged with: every template of the
// cluster that carries the tag, not only the plan's (a push limited by
// --role, or of a new member, is checked against the running members).
func checkCA(p *Plan, templates map[string]types.LaunchTemplate, want func(string) bool, newCA bool) error {
	ca := ""
	for _, t := range p.Desired.Templates {
		if t.EtcdCA != "" && want(t.Role) {
			ca = t.EtcdCA
		}
	}
	if ca == "" || newCA {
		return nil
	}
	e := &CAError{CA: ca, Templates: map[string]string{}}
	for name, lt := range templates {
		if other := tagValue(lt.Tags, TagEtcdCA); other != "" && other != ca {
			e.Templates[name] = other
		}
	}
	if len(e.Templates) > 0 {
		return e
	}
	return nil
}

// describeTemplates reads the launch templates the filter selects into
// byName.
func (c *Client) describeTemplates(ctx context.Context, f types.Filter, byName map[string]types.LaunchTemplate) error {
	pages := ec2.NewDescribeLaunchTemplatesPaginator(c.EC2, &ec2.DescribeLaunchTemplatesInput{Filters: []types.Filter{f}})
	for pages.HasMorePages() {
		out, err := pages.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("describing launch templates (%s): %w", awssdk.ToString(f.Name), err)
		}
		for _, lt := range out.LaunchTemplates {
			byName[awssdk.ToString(lt.LaunchTemplateName)] = lt
		}
	}
	return nil
}

// liveTags replaces the Tags of the templates with what DescribeTags says:
// moto's DescribeLaunchTemplates answers with the tags a template was
// created with, not those added or removed since (AWS answers with the
// current ones; DescribeTags is right in both).
func (c *Client) liveTags(ctx context.Context, sets ...map[string]types.LaunchTemplate) error {
	var ids []string
	for _, set := range sets {
		for _, lt := range set {
			ids = append(ids, awssdk.ToString(lt.LaunchTemplateId))
		}
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	tags := map[string][]types.Tag{}
	for chunk := range slices.Chunk(ids, 200) {
		pages := ec2.NewDescribeTagsPaginator(c.EC2, &ec2.DescribeTagsInput{Filters: []types.Filter{
			{Name: awssdk.String("resource-id"), Values: chunk},
		}})
		for pages.HasMorePages() {
			out, err := pages.NextPage(ctx)
			if err != nil {
				return fmt.Errorf("describing the tags of launch templates: %w", err)
			}
			for _, td := range out.Tags {
				id := awssdk.ToString(td.ResourceId)
				tags[id] = append(tags[id], types.Tag{Key: td.Key, Value: td.Value})
			}
		}
	}
	for _, set := range sets {
		for name, lt := range set {
			lt.Tags = tags[awssdk.ToString(lt.LaunchTemplateId)]
			set[name] = lt
		}
	}
	return nil
}

func templateDetail(t *Template, group string) string {
	s := fmt.Sprintf("%d bytes of userdata, security group %s, instance metadata v2 required with hop limit %d", len(t.Userdata), group, imdsHopLimit)
	if t.Object != nil {
		s = fmt.Sprintf("Ignition pointer (%d bytes) to %s, security group %s, instance metadata v2 required with hop limit %d", len(t.Userdata), t.Object.URL(), group, imdsHopLimit)
	}
	return s
}

func (c *Client) applyTemplates(ctx context.Context, p *Plan, done *[]Change) error {
	d := p.Desired
	for _, tp := range p.tmpls {
		t := tp.t
		group := p.ids[t.Role]
		if group == "" {
			return fmt.Errorf("launch template %s: security group %s %w", t.Name, GroupName(d.Cluster, t.Role), ErrGroupMissing)
		}
		data := &types.RequestLaunchTemplateData{
			UserData:         awssdk.String(base64.StdEncoding.EncodeToString(t.Userdata)),
			SecurityGroupIds: append([]string{group}, tp.foreign...),
			MetadataOptions: &types.LaunchTemplateInstanceMetadataOptionsRequest{
				HttpTokens:              types.LaunchTemplateHttpTokensStateRequired,
				HttpEndpoint:            types.LaunchTemplateInstanceMetadataEndpointStateEnabled,
				HttpPutResponseHopLimit: awssdk.Int32(imdsHopLimit),
			},
		}
		if len(tp.nics) > 0 {
			// EC2 refuses instance-level groups beside network interfaces
			nics, err := nicRequests(tp.nics, tp.primary, data.SecurityGroupIds)
			if err != nil {
				return fmt.Errorf("launch template %s: its network interfaces: %w", t.Name, err)
			}
			data.NetworkInterfaces, data.SecurityGroupIds = nics, nil
		}
		if tp.id == "" {
			tags := []types.Tag{
				{Key: awssdk.String(TagCluster), Value: awssdk.String(d.Cluster)},
				{Key: awssdk.String(TagRole), Value: awssdk.String(t.Role)},
			}
			if t.Node != "" {
				tags = append(tags, types.Tag{Key: awssdk.String(TagNode), Value: awssdk.String(t.Node)})
			}
			if t.EtcdCA != "" {
				tags = append(tags, types.Tag{Key: awssdk.String(TagEtcdCA), Value: awssdk.String(t.EtcdCA)})
			}
			out, err := c.EC2.CreateLaunchTemplate(ctx, &ec2.CreateLaunchTemplateInput{
				LaunchTemplateName: awssdk.String(t.Name),
				LaunchTemplateData: data,
				TagSpecifications:  []types.TagSpecification{{ResourceType: types.ResourceTypeLaunchTemplate, Tags: tags}},
				ClientToken:        awssdk.String(clientToken()), // the same on the SDK's retries
			})
			var id string
			switch {
			case err == nil:
				id = awssdk.ToString(out.LaunchTemplate.LaunchTemplateId)
			case isCode(err, "InvalidLaunchTemplateName.AlreadyExistsException"):
				// A retry of a create whose answer was lost (an endpoint
				// that ignores ClientToken): the template is ours when it
				// was made for this cluster in this very call.
				if id = c.madeForCluster(ctx, t.Name, d.Cluster); id == "" {
					return fmt.Errorf("creating launch template %s: %w", t.Name, err)
				}
			default:
				return fmt.Errorf("creating launch template %s: %w", t.Name, err)
			}
			*done = append(*done, Change{Op: "create", Kind: "launch-template", Target: t.Name, Detail: id})
			continue
		}
		switch {
		case tp.reuse > 0:
			if err := c.makeDefault(ctx, tp, tp.reuse, done); err != nil {
				return err
			}
		case tp.version:
			if err := c.newVersion(ctx, tp, data, done); err != nil {
				return err
			}
		}
		// tagged after the userdata it describes is the default
		if tp.tagCA {
			if _, err := c.EC2.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{tp.id}, Tags: []types.Tag{{Key: awssdk.String(TagEtcdCA), Value: awssdk.String(t.EtcdCA)}}}); err != nil {
				return fmt.Errorf("tagging launch template %s %s=%s: %w", t.Name, TagEtcdCA, t.EtcdCA, err)
			}
			*done = append(*done, Change{Op: "tag", Kind: "launch-template", Target: t.Name, Detail: TagEtcdCA + "=" + t.EtcdCA})
		}
	}
	return nil
}

// newVersion makes a new version of an existing template and makes it the
// default.
func (c *Client) newVersion(ctx context.Context, tp *templatePlan, data *types.RequestLaunchTemplateData, done *[]Change) error {
	t := tp.t
	out, err := c.EC2.CreateLaunchTemplateVersion(ctx, &ec2.CreateLaunchTemplateVersionInput{
		LaunchTemplateId:   awssdk.String(tp.id),
		SourceVersion:      awssdk.String(strconv.FormatInt(tp.source, 10)),
		LaunchTemplateData: data,
		ClientToken:        awssdk.String(clientToken()), // the same on the SDK's retries
	})
	if err != nil {
		return fmt.Errorf("creating a version of launch template %s: %w", t.Name, err)
	}
	return c.makeDefault(ctx, tp, awssdk.ToInt64(out.LaunchTemplateVersion.VersionNumber), done)
}

// makeDefault makes version n of the template its default. When it fails
// after a new version was made, the next plan finds that version and
// reuses it.
func (c *Client) makeDefault(ctx context.Context, tp *templatePlan, n int64, done *[]Change) error {
	t := tp.t
	if _, err := c.EC2.ModifyLaunchTemplate(ctx, &ec2.ModifyLaunchTemplateInput{
		LaunchTemplateId: awssdk.String(tp.id),
		DefaultVersion:   awssdk.String(strconv.FormatInt(n, 10)),
	}); err != nil {
		return fmt.Errorf("making version %d the default of launch template %s: %w", n, t.Name, err)
	}
	*done = append(*done, Change{Op: "version", Kind: "launch-template", Target: t.Name, Detail: fmt.Sprintf("version %d is the default", n)})
	return nil
}
