package aws

import (
	"bytes"
	"context"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/netip"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/rampart-cluster/rampart/generator/boot"
	"github.com/rampart-cluster/rampart/generator/pki"
	"github.com/rampart-cluster/rampart/generator/policy"
	"github.com/rampart-cluster/rampart/generator/report"
	"github.com/rampart-cluster/rampart/generator/spec"
)

// rule is a security group rule as the test reads it back from AWS,
// independently of the package's own reading: "tcp 22-22 from 1.2.3.4/32",
// "-1 from role master", with its description.
type rule struct {
	proto    string
	from, to int32
	cidr     netip.Prefix
	role     string // the referenced group's role
	desc     string
}

func (r rule) String() string {
	src := r.cidr.String()
	if r.role != "" {
		src = "role " + r.role
	}
	if r.proto == "-1" {
		return "all from " + src
	}
	return fmt.Sprintf("%s %d %d from %s", r.proto, r.from, r.to, src)
}

// readBack flattens every group's inbound rules, group references by role.
func readBack(t *testing.T, groups map[string]ec2types.SecurityGroup, cluster string) map[string][]rule {
	roleOf := map[string]string{}
	for name, g := range groups {
		roleOf[awssdk.ToString(g.GroupId)] = strings.TrimPrefix(name, cluster+"-")
	}
	out := map[string][]rule{}
	for name, g := range groups {
		for _, ip := range g.IpPermissions {
			base := rule{proto: awssdk.ToString(ip.IpProtocol), from: awssdk.ToInt32(ip.FromPort), to: awssdk.ToInt32(ip.ToPort)}
			for _, r := range ip.IpRanges {
				x := base
				x.cidr, x.desc = netip.MustParsePrefix(awssdk.ToString(r.CidrIp)), awssdk.ToString(r.Description)
				out[name] = append(out[name], x)
			}
			for _, r := range ip.Ipv6Ranges {
				x := base
				x.cidr, x.desc = netip.MustParsePrefix(awssdk.ToString(r.CidrIpv6)), awssdk.ToString(r.Description)
				out[name] = append(out[name], x)
			}
			for _, r := range ip.UserIdGroupPairs {
				x := base
				x.role, x.desc = roleOf[awssdk.ToString(r.GroupId)], awssdk.ToString(r.Description)
				if x.role == "" {
					t.Fatalf("%s refers to an unknown group %s", name, awssdk.ToString(r.GroupId))
				}
				out[name] = append(out[name], x)
			}
		}
	}
	return out
}

func ruleStrings(rs []rule) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.String())
	}
	sort.Strings(out)
	return out
}

// dcosAWSGroups is what the security groups of fixtures/dcos-aws.yaml must
// hold, written by hand from SPEC.md's DC/OS table and the fixture: masters
// reach every role on everything; agents and public agents reach masters on
// everything but TCP 8201 and 26257 (TCP around them, all UDP, all ICMP) and
// the agents on everything; the VPC resolver (trusted) reaches everything;
// the admin's /32 reaches the masters' admin ports and every role's 22; the
// world reaches the masters' 443 and the public agents' 80, 443 and
// 10000-10100, IPv4 and IPv6; and path MTU discovery's ICMP comes from
// anywhere.
var dcosAWSGroups = map[string][]string{
	"dcos-aws-master": {
		"all from role master",
		"tcp 0 8200 from role agent", "tcp 8202 26256 from role agent", "tcp 26258 65535 from role agent",
		"udp 0 65535 from role agent", "icmp -1 -1 from role agent", "icmpv6 -1 -1 from role agent",
		"tcp 0 8200 from role public-agent", "tcp 8202 26256 from role public-agent", "tcp 26258 65535 from role public-agent",
		"udp 0 65535 from role public-agent", "icmp -1 -1 from role public-agent", "icmpv6 -1 -1 from role public-agent",
		"all from 10.0.0.2/32",
		"tcp 22 22 from 209.220.51.50/32", "tcp 80 80 from 209.220.51.50/32", "tcp 8080 8080 from 209.220.51.50/32", "tcp 9090 9090 from 209.220.51.50/32",
		"tcp 443 443 from 0.0.0.0/0", "tcp 443 443 from ::/0",
		"icmp 3 4 from 0.0.0.0/0", "icmpv6 2 -1 from ::/0",
	},
	"dcos-aws-agent": {
		"all from role master", "all from role agent", "all from role public-agent",
		"all from 10.0.0.2/32",
		"tcp 22 22 from 209.220.51.50/32",
		"icmp 3 4 from 0.0.0.0/0", "icmpv6 2 -1 from ::/0",
	},
	"dcos-aws-public-agent": {
		"all from role master", "all from role agent", "all from role public-agent",
		"all from 10.0.0.2/32",
		"tcp 22 22 from 209.220.51.50/32",
		"tcp 80 80 from 0.0.0.0/0", "tcp 443 443 from 0.0.0.0/0", "tcp 10000 10100 from 0.0.0.0/0",
		"tcp 80 80 from ::/0", "tcp 443 443 from ::/0", "tcp 10000 10100 from ::/0",
		"icmp 3 4 from 0.0.0.0/0", "icmpv6 2 -1 from ::/0",
	},
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	sort.Strings(s)
	return s
}

// hasFinding reports whether r has an entry with the message's code and
// severity, about path ("" for none), without a spec position, whose
// sentence starts with prefix.
func hasFinding(r report.Report, m report.Message, path, prefix string) bool {
	return slices.ContainsFunc(r.Entries, func(e report.Entry) bool {
		return e.Code == m.Code && e.Severity == m.Severity && e.Path.String() == path && e.Pos == report.Pos{} && strings.HasPrefix(e.Message, prefix)
	})
}

// TestPushFromEmpty: from an empty account, push creates the three groups,
// their rules and the five launch templates the fixture implies, as read
// back; a second push plans nothing and makes no mutating call.
func TestPushFromEmpty(t *testing.T) {
	e := newEnv(t)
	s := e.spec()
	machines := e.machinesOf(s)
	plan, done := e.push(s, machines)
	if len(done) != len(plan.Changes) {
		t.Errorf("planned %d changes, made %d", len(plan.Changes), len(done))
	}
	groups := e.describedGroups()
	rules := readBack(t, groups, "dcos-aws")
	for name, want := range dcosAWSGroups {
		g, ok := groups[name]
		if !ok {
			t.Fatalf("no security group %s; groups: %v", name, slices.Collect(mapKeys(groups)))
		}
		role := strings.TrimPrefix(name, "dcos-aws-")
		if !hasTag(g.Tags, TagCluster, "dcos-aws") || !hasTag(g.Tags, TagRole, role) {
			t.Errorf("%s tags: %v", name, g.Tags)
		}
		if got := ruleStrings(rules[name]); !slices.Equal(got, sorted(want)) {
			t.Errorf("%s rules:\n got %q\nwant %q", name, got, sorted(want))
		}
		for _, r := range rules[name] {
			if !strings.HasPrefix(r.desc, "rampart: ") || !strings.HasSuffix(r.desc, ")") || strings.Contains(r.desc, "dcos-aws.yaml:") {
				t.Errorf("%s: rule %s has description %q: it must say where in the spec it came from, never a line", name, r, r.desc)
			}
		}
		var egress []string
		for _, ip := range g.IpPermissionsEgress {
			for _, r := range ip.IpRanges {
				egress = append(egress, awssdk.ToString(ip.IpProtocol)+" "+awssdk.ToString(r.CidrIp))
			}
			for _, r := range ip.Ipv6Ranges {
				egress = append(egress, awssdk.ToString(ip.IpProtocol)+" "+awssdk.ToString(r.CidrIpv6))
			}
		}
		if sort.Strings(egress); !slices.Equal(egress, []string{"-1 0.0.0.0/0", "-1 ::/0"}) {
			t.Errorf("%s egress %v, want all traffic to 0.0.0.0/0 and ::/0", name, egress)
		}
	}
	if len(groups) != len(dcosAWSGroups)+1 { // and the VPC's default group
		t.Errorf("%d groups in the VPC, want %d and default", len(groups), len(dcosAWSGroups))
	}
	// the admin's 22 on the masters says where it came from: roles.master.admin
	for _, r := range rules["dcos-aws-master"] {
		if want := "rampart: admins reach master on its admin ports (roles.master.admin)"; r.String() == "tcp 22 22 from 209.220.51.50/32" && r.desc != want {
			t.Errorf("admin SSH rule described %q, want %q", r.desc, want)
		}
	}
	checkTemplates(t, e, machines, groups, 1)

	e.calls.Reset()
	plan, done = e.push(s, machines)
	if len(plan.Changes) != 0 || len(done) != 0 {
		t.Errorf("second push planned %v, made %v", plan.Changes, done)
	}
	if m := e.calls.Mutating(); len(m) != 0 {
		t.Errorf("second push made mutating calls %v", m)
	}
	if len(e.calls.All()) == 0 {
		t.Error("the call counter saw no call at all")
	}
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// pointerConfig is what the test reads of an Ignition pointer config.
type pointerConfig struct {
	Ignition struct {
		Version string
		Config  struct {
			Replace struct {
				Source       string
				Verification struct{ Hash string }
			}
		}
	}
	Storage json.RawMessage
}

// defaultUserdata reads a launch template's default version: its number,
// its userdata as EC2 holds it, and what the machine boots with: the same,
// or, when the userdata is a pointer config, the S3 object it points to,
// checked against the pointer's sha512 (nil where the pointer does not
// hold).
func (e *env) defaultUserdata(name string) (version int64, raw, boots []byte, data *ec2types.ResponseLaunchTemplateData) {
	e.t.Helper()
	v, err := e.client.EC2.DescribeLaunchTemplateVersions(e.ctx, &ec2.DescribeLaunchTemplateVersionsInput{LaunchTemplateName: awssdk.String(name), Versions: []string{"$Default"}})
	if err != nil {
		e.t.Fatal(err)
	}
	d := v.LaunchTemplateVersions[0]
	raw, err = base64.StdEncoding.DecodeString(awssdk.ToString(d.LaunchTemplateData.UserData))
	if err != nil {
		e.t.Fatalf("%s: userdata: %v", name, err)
	}
	var ptr pointerConfig
	if json.Unmarshal(raw, &ptr) != nil || ptr.Ignition.Config.Replace.Source == "" {
		return awssdk.ToInt64(d.VersionNumber), raw, raw, d.LaunchTemplateData
	}
	src := ptr.Ignition.Config.Replace.Source
	bucket, key, ok := strings.Cut(strings.TrimPrefix(src, "s3://"), "/")
	if !strings.HasPrefix(src, "s3://") || !ok || bucket != "dcos-aws-ignition" {
		e.t.Fatalf("%s: pointer source %q", name, src)
	}
	obj, err := e.client.S3.GetObject(e.ctx, &s3.GetObjectInput{Bucket: &bucket, Key: &key}, func(o *s3.Options) {
		o.ResponseChecksumValidation = awssdk.ResponseChecksumValidationWhenRequired // moto sends none: no log line
	})
	if err != nil {
		e.t.Fatal(err)
	}
	body, err := io.ReadAll(obj.Body)
	obj.Body.Close()
	if err != nil {
		e.t.Fatal(err)
	}
	if obj.ServerSideEncryption != s3types.ServerSideEncryptionAes256 {
		e.t.Errorf("%s: object %s is encrypted with %q, want AES256 (SSE-S3)", name, src, obj.ServerSideEncryption)
	}
	sum := sha512.Sum512(body)
	if ptr.Ignition.Config.Replace.Verification.Hash != "sha512-"+hex.EncodeToString(sum[:]) {
		e.t.Errorf("%s: object %s has sha512 %x; the pointer says %s", name, src, sum, ptr.Ignition.Config.Replace.Verification.Hash)
		body = nil
	}
	if ptr.Ignition.Version != boot.IgnitionVersion[boot.Target{Variant: "flatcar", Version: "1.0.0"}] || ptr.Ignition.Version != "3.3.0" {
		e.t.Errorf("%s: pointer version %q, want 3.3.0 (flatcar 1.0.0)", name, ptr.Ignition.Version)
	}
	return awssdk.ToInt64(d.VersionNumber), raw, body, d.LaunchTemplateData
}

// checkNoKeys: the userdata of a machine with etcd keys is a pointer, with
// no key in it.
func checkNoKeys(t *testing.T, name string, m Machine, raw []byte) {
	t.Helper()
	if m.EtcdCA != "" && (len(raw) > 1024 || bytes.Contains(raw, []byte("PRIVATE KEY")) || !bytes.Contains(raw, []byte(`"replace"`))) {
		t.Errorf("%s: the userdata of a machine with etcd keys is not a pointer (%d bytes)", name, len(raw))
	}
}

// checkTemplates reads every launch template back: one per non-etcd role and
// per etcd member, its default version (want) carrying the machine's
// userdata (the etcd members' behind a pointer to the bucket: they carry
// keys), the role's group and IMDSv2 required with hop limit 1.
func checkTemplates(t *testing.T, e *env, machines []Machine, groups map[string]ec2types.SecurityGroup, version int64) {
	t.Helper()
	out, err := e.client.EC2.DescribeLaunchTemplates(e.ctx, &ec2.DescribeLaunchTemplatesInput{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, lt := range out.LaunchTemplates {
		names = append(names, awssdk.ToString(lt.LaunchTemplateName))
	}
	want := []string{"dcos-aws-agent", "dcos-aws-master-a", "dcos-aws-master-b", "dcos-aws-master-c", "dcos-aws-public-agent"}
	if sort.Strings(names); !slices.Equal(names, want) {
		t.Fatalf("launch templates %v, want %v", names, want)
	}
	for _, m := range machines {
		name := "dcos-aws-" + m.Name()
		n, raw, ud, data := e.defaultUserdata(name)
		if n != version {
			t.Errorf("%s: default version %d, want %d", name, n, version)
		}
		if !bytes.Equal(ud, m.Userdata) {
			t.Errorf("%s: userdata (%d bytes) is not the machine's (%d bytes)", name, len(ud), len(m.Userdata))
		}
		checkNoKeys(t, name, m, raw)
		sg := awssdk.ToString(groups["dcos-aws-"+m.Role].GroupId)
		if !slices.Equal(data.SecurityGroupIds, []string{sg}) {
			t.Errorf("%s: security groups %v, want [%s] (dcos-aws-%s)", name, data.SecurityGroupIds, sg, m.Role)
		}
		if mo := data.MetadataOptions; mo == nil || mo.HttpTokens != ec2types.LaunchTemplateHttpTokensStateRequired || awssdk.ToInt32(mo.HttpPutResponseHopLimit) != 1 {
			t.Errorf("%s: metadata options %+v, want HttpTokens required, HttpPutResponseHopLimit 1", name, mo)
		}
	}
}

// The edits of a changed spec: Marathon's 8080 no longer open to the admin,
// the public agents' range grown to 10200. Lines keep their numbers.
var changedSpec = []string{
	"admin: [22/tcp, 80/tcp, 8080/tcp, 9090/tcp]", "admin: [22/tcp, 80/tcp, 9090/tcp]",
	"public: [80/tcp, 443/tcp, 10000-10100/tcp]", "public: [80/tcp, 443/tcp, 10000-10200/tcp]",
}

// TestPushChangedSpec: a changed spec gives exactly the expected plan, the
// result is read back, and a push after it is a no-op. A rule added by hand
// survives every push and is listed as not rampart's.
func TestPushChangedSpec(t *testing.T) {
	e := newEnv(t)
	e.push(e.spec(), e.machinesOf(e.spec()))
	groups := e.describedGroups()
	master := groups["dcos-aws-master"].GroupId
	hand := []ec2types.IpPermission{
		{IpProtocol: awssdk.String("tcp"), FromPort: awssdk.Int32(3389), ToPort: awssdk.Int32(3389), IpRanges: []ec2types.IpRange{{CidrIp: awssdk.String("192.0.2.0/24"), Description: awssdk.String("ops: bastion RDP")}}},
		{IpProtocol: awssdk.String("udp"), FromPort: awssdk.Int32(161), ToPort: awssdk.Int32(161), Ipv6Ranges: []ec2types.Ipv6Range{{CidrIpv6: awssdk.String("2001:db8:5::/48")}}},
	}
	if _, err := e.client.EC2.AuthorizeSecurityGroupIngress(e.ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: master, IpPermissions: hand}); err != nil {
		t.Fatal(err)
	}

	s := e.spec(changedSpec...)
	machines := e.machinesOf(s)
	e.calls.Reset()
	plan, done := e.push(s, machines)
	// the members' userdata are pointers (they carry keys): their size is
	// the pointer's, and their configs are uploaded first
	size, old := map[string]int{}, map[string]int{}
	var uploads []string
	for _, tm := range e.desire(s).Templates {
		size[strings.TrimPrefix(tm.Name, "dcos-aws-")] = len(tm.Userdata)
		if o := tm.Object; o != nil {
			uploads = append(uploads, fmt.Sprintf("+ upload s3-object %s: %d bytes of Ignition for %s, sha512-%s…", o.URL(), len(o.Data), tm.Name, o.SHA512[:16]))
		}
	}
	for _, tm := range e.desire(e.spec()).Templates {
		old[strings.TrimPrefix(tm.Name, "dcos-aws-")] = len(tm.Userdata)
	}
	admin := "(admins reach master on its admin ports (roles.master.admin))"
	world := "(the world reaches public-agent on its public ports (roles.public-agent.public))"
	version := func(name string) string {
		return fmt.Sprintf("~ version launch-template dcos-aws-%s: new default version from version 1: userdata differs (now %d bytes, was %d)", name, size[name], old[name])
	}
	want := []string{
		"- revoke ingress dcos-aws-master: tcp 8080 from 209.220.51.50/32 " + admin,
		"+ authorize ingress dcos-aws-public-agent: tcp 10000-10200 from 0.0.0.0/0 " + world,
		"+ authorize ingress dcos-aws-public-agent: tcp 10000-10200 from ::/0 " + world,
		"- revoke ingress dcos-aws-public-agent: tcp 10000-10100 from 0.0.0.0/0 " + world,
		"- revoke ingress dcos-aws-public-agent: tcp 10000-10100 from ::/0 " + world,
	}
	want = append(append(want, uploads...), version("public-agent"), version("master-a"), version("master-b"), version("master-c"))
	if len(uploads) != 3 {
		t.Errorf("uploads %q, want one per master", uploads)
	}
	var got []string
	for _, c := range plan.Changes {
		got = append(got, c.String())
	}
	if !slices.Equal(got, want) {
		t.Errorf("plan:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if len(done) != len(want) {
		t.Errorf("made %d changes, want %d: %v", len(done), len(want), done)
	}
	wantCalls := []string{"AuthorizeSecurityGroupIngress", "RevokeSecurityGroupIngress", "RevokeSecurityGroupIngress", "PutObject", "PutObject", "PutObject",
		"CreateLaunchTemplateVersion", "ModifyLaunchTemplate", "CreateLaunchTemplateVersion", "ModifyLaunchTemplate",
		"CreateLaunchTemplateVersion", "ModifyLaunchTemplate", "CreateLaunchTemplateVersion", "ModifyLaunchTemplate"}
	if m := e.calls.Mutating(); !slices.Equal(sorted(m), sorted(wantCalls)) {
		t.Errorf("mutating calls %v, want %v", m, wantCalls)
	}
	for _, w := range []string{`ingress rule tcp 3389 from 192.0.2.0/24 ("ops: bastion RDP") is not rampart's`, `ingress rule udp 161 from 2001:db8:5::/48 ("") is not rampart's`} {
		if !hasFinding(plan.Findings, msgForeignRule, "roles.master", "security group dcos-aws-master: "+w) {
			t.Errorf("findings lack %s:\n%s", w, plan.Findings)
		}
	}

	groups = e.describedGroups()
	rules := readBack(t, groups, "dcos-aws")
	master8080 := "tcp 8080 8080 from 209.220.51.50/32"
	wantMaster := append(slices.DeleteFunc(slices.Clone(dcosAWSGroups["dcos-aws-master"]), func(s string) bool { return s == master8080 }),
		"tcp 3389 3389 from 192.0.2.0/24", "udp 161 161 from 2001:db8:5::/48")
	if got := ruleStrings(rules["dcos-aws-master"]); !slices.Equal(got, sorted(wantMaster)) {
		t.Errorf("master rules after the change:\n got %q\nwant %q", got, sorted(wantMaster))
	}
	wantPublic := slices.Clone(dcosAWSGroups["dcos-aws-public-agent"])
	for i, r := range wantPublic {
		wantPublic[i] = strings.Replace(r, "10000 10100", "10000 10200", 1)
	}
	if got := ruleStrings(rules["dcos-aws-public-agent"]); !slices.Equal(got, sorted(wantPublic)) {
		t.Errorf("public-agent rules after the change:\n got %q\nwant %q", got, sorted(wantPublic))
	}
	if got := ruleStrings(rules["dcos-aws-agent"]); !slices.Equal(got, sorted(dcosAWSGroups["dcos-aws-agent"])) {
		t.Errorf("agent rules changed: %q", got)
	}
	checkTemplatesChanged(t, e, machines, map[string]int64{"master-a": 2, "master-b": 2, "master-c": 2, "public-agent": 2, "agent": 1})

	e.calls.Reset()
	plan, _ = e.push(s, machines)
	if len(plan.Changes) != 0 || len(e.calls.Mutating()) != 0 {
		t.Errorf("push after the change: plan %v, mutating calls %v", plan.Changes, e.calls.Mutating())
	}
}

func checkTemplatesChanged(t *testing.T, e *env, machines []Machine, versions map[string]int64) {
	t.Helper()
	for _, m := range machines {
		name := "dcos-aws-" + m.Name()
		n, raw, ud, data := e.defaultUserdata(name)
		if n != versions[m.Name()] || !bytes.Equal(ud, m.Userdata) {
			t.Errorf("%s: default version %d (want %d), userdata matches: %v", name, n, versions[m.Name()], bytes.Equal(ud, m.Userdata))
		}
		checkNoKeys(t, name, m, raw)
		if mo := data.MetadataOptions; mo == nil || mo.HttpTokens != ec2types.LaunchTemplateHttpTokensStateRequired || awssdk.ToInt32(mo.HttpPutResponseHopLimit) != 1 {
			t.Errorf("%s: metadata options %+v after a new version", name, mo)
		}
	}
}

// TestPushRole: --role limits the push to one role's group and templates;
// before the groups it references exist, it refuses.
func TestPushRole(t *testing.T) {
	e := newEnv(t)
	d, err := desireSpec(e.spec(), e.machinesOf(e.spec()), pointerFor(e.spec()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.Plan(e.ctx, d, PlanOptions{Roles: []string{"agent"}}); !errors.Is(err, ErrGroupMissing) || !strings.Contains(err.Error(), "dcos-aws-master") {
		t.Fatalf("--role agent on an empty account: %v", err)
	}
	if _, err := e.client.Plan(e.ctx, d, PlanOptions{Roles: []string{"bootstrap"}}); err == nil || !strings.Contains(err.Error(), "not a role of cluster dcos-aws") {
		t.Fatalf("--role bootstrap: %v", err)
	}
	e.push(e.spec(), e.machinesOf(e.spec()))
	s := e.spec(changedSpec...)
	plan, _ := e.push(s, e.machinesOf(s), "public-agent")
	var targets []string
	for _, c := range plan.Changes {
		targets = append(targets, c.Target)
	}
	if targets = slices.Compact(targets); !slices.Equal(targets, []string{"dcos-aws-public-agent"}) {
		t.Errorf("--role public-agent changed %v", targets)
	}
	rules := readBack(t, e.describedGroups(), "dcos-aws")
	if !slices.Contains(ruleStrings(rules["dcos-aws-master"]), "tcp 8080 8080 from 209.220.51.50/32") {
		t.Error("--role public-agent touched the masters' group")
	}
}

// TestPlanMakesNoChange: planning (what --dry-run prints) from an empty
// account reads and never writes.
func TestPlanMakesNoChange(t *testing.T) {
	e := newEnv(t)
	d, err := desireSpec(e.spec(), e.machinesOf(e.spec()), pointerFor(e.spec()))
	if err != nil {
		t.Fatal(err)
	}
	plan, err := e.client.Plan(e.ctx, d, PlanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var creates int
	for _, c := range plan.Changes {
		if c.Op == "create" {
			creates++
		}
	}
	if creates != 3+5 {
		t.Errorf("plan from empty creates %d groups and templates, want 8: %v", creates, plan.Changes)
	}
	if m := e.calls.Mutating(); len(m) != 0 || len(e.calls.All()) == 0 {
		t.Errorf("planning made mutating calls %v (all calls %v)", m, e.calls.All())
	}
	if g := e.describedGroups(); len(g) != 1 {
		t.Errorf("planning left groups: %v", slices.Collect(mapKeys(g)))
	}
}

// bigIgnition is a valid Ignition config over EC2's 16 KB limit.
func bigIgnition(t *testing.T) []byte {
	// hex of a hash chain: Butane compresses what it can, and this it cannot much
	var noise strings.Builder
	sum := sha512.Sum512([]byte("rampart"))
	for noise.Len() < 40000 {
		sum = sha512.Sum512(sum[:])
		noise.WriteString(hex.EncodeToString(sum[:]))
	}
	doc := "variant: flatcar\nversion: 1.0.0\nstorage:\n  files:\n    - path: /etc/big\n      contents:\n        inline: " +
		strconv.Quote(noise.String()) + "\n"
	ign, err := boot.Ignition(doc, boot.Target{Variant: "flatcar", Version: "1.0.0"})
	if err != nil {
		t.Fatal(err)
	}
	if len(ign) <= UserdataLimit {
		t.Fatalf("the big config is %d bytes", len(ign))
	}
	return ign
}

// TestOversizedUserdata: userdata over 16 KB goes to the bucket and the
// template gets an Ignition pointer of the spec's Ignition version whose
// sha512 is the object's; without a bucket it is an error with the size and
// the limit.
func TestOversizedUserdata(t *testing.T) {
	e := newEnv(t)
	s := e.spec()
	machines := e.machinesOf(s)
	big := bigIgnition(t)
	for i := range machines {
		if machines[i].Node == "master-a" {
			machines[i].Userdata = big
		}
	}
	e.push(s, machines)
	_, ud, body, _ := e.defaultUserdata("dcos-aws-master-a")
	if len(ud) > UserdataLimit {
		t.Fatalf("the template's userdata is %d bytes", len(ud))
	}
	if !bytes.Equal(body, big) {
		t.Errorf("the pointer leads to %d bytes, not the %d-byte config", len(body), len(big))
	}
	e.calls.Reset()
	if plan, _ := e.push(s, machines); len(plan.Changes) != 0 || len(e.calls.Mutating()) != 0 {
		t.Errorf("second push: %v, mutating calls %v", plan.Changes, e.calls.Mutating())
	}

	_, err := desireSpec(e.spec(noBucket...), machines, pointerFor(e.spec()))
	var tooLarge *TooLargeError
	if !errors.As(err, &tooLarge) || tooLarge.Size != len(big) || !strings.Contains(err.Error(), fmt.Sprintf("userdata is %d bytes, over EC2's limit of 16384 bytes", len(big))) ||
		!strings.Contains(err.Error(), "dcos-aws-master-a") {
		t.Errorf("without a bucket: %v", err)
	}
}

// TestQuota: a group over the per-family quota is an error naming the group
// and the count, before any call. The masters' group needs 20 IPv4 rules
// (13 to the three role groups, which count in both families, 4 admin
// ports, 443 from the world, the resolver and fragmentation-needed) and 15
// IPv6 ones.
func TestQuota(t *testing.T) {
	e := &env{t: t}
	e.vpc = "vpc-0a1b2c3d4e5f60718"
	if _, err := desireSpec(e.spec("bucket: dcos-aws-ignition", "bucket: dcos-aws-ignition\n    rule_quota: 20"), nil, nil); err != nil {
		t.Errorf("quota 20: %v", err)
	}
	_, err := desireSpec(e.spec("bucket: dcos-aws-ignition", "bucket: dcos-aws-ignition\n    rule_quota: 19"), nil, nil)
	var q *QuotaError
	if !errors.As(err, &q) || q.Group != "dcos-aws-master" || q.Count != 20 || q.Family != policy.V4 ||
		!strings.Contains(err.Error(), "security group dcos-aws-master needs 20 IPv4 inbound rules, over the quota of 19") {
		t.Errorf("quota 19: %v", err)
	}
	_, err = desireSpec(e.spec("bucket: dcos-aws-ignition", "bucket: dcos-aws-ignition\n    rule_quota: 14", `public: [443/tcp]`, `public: [443/tcp, 8443/tcp]`), nil, nil)
	if !errors.As(err, &q) || q.Group != "dcos-aws-master" || q.Family != policy.V4 || q.Count != 21 {
		t.Errorf("quota 14: %v", err)
	}
}

// TestNoProvider: a spec without provider.aws cannot be pushed.
func TestNoProvider(t *testing.T) {
	s, err := spec.LoadFile("../../fixtures/dcos-packet.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := desireSpec(s, nil, pointerFor(s)); !errors.Is(err, ErrNoProvider) {
		t.Errorf("dcos-packet: %v", err)
	}
}

// TestPushMovedLines: a line added at the top of the spec moves every rule's
// source line, and changes nothing in AWS: descriptions name the spec path,
// never a line, and the userdata is byte-identical, so the push plans no
// change and makes no mutating call.
func TestPushMovedLines(t *testing.T) {
	e := newEnv(t)
	e.push(e.spec(), e.machinesOf(e.spec()))
	s := e.spec("cluster: dcos-aws\n", "cluster: dcos-aws\n# a line that moves every rule down\n")
	e.calls.Reset()
	plan, _ := e.push(s, e.machinesOf(s))
	if len(plan.Changes) != 0 || len(e.calls.Mutating()) != 0 {
		t.Errorf("push after a comment line: %v, mutating calls %v", plan.Changes, e.calls.Mutating())
	}
	rules := readBack(t, e.describedGroups(), "dcos-aws")
	for _, r := range rules["dcos-aws-master"] {
		if r.String() == "tcp 22 22 from 209.220.51.50/32" && r.desc != "rampart: admins reach master on its admin ports (roles.master.admin)" {
			t.Errorf("admin SSH rule described %q", r.desc)
		}
	}
}

// TestPushAdoptsAndWarns: a group of the right name made by hand is adopted
// and tagged, not duplicated; a group tagged with the cluster whose role the
// spec lacks is listed and left alone.
func TestPushAdoptsAndWarns(t *testing.T) {
	e := newEnv(t)
	made, err := e.client.EC2.CreateSecurityGroup(e.ctx, &ec2.CreateSecurityGroupInput{GroupName: awssdk.String("dcos-aws-agent"), Description: awssdk.String("by hand"), VpcId: awssdk.String(e.vpc)})
	if err != nil {
		t.Fatal(err)
	}
	old, err := e.client.EC2.CreateSecurityGroup(e.ctx, &ec2.CreateSecurityGroupInput{GroupName: awssdk.String("dcos-aws-bootstrap"), Description: awssdk.String("gone"), VpcId: awssdk.String(e.vpc),
		TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeSecurityGroup, Tags: []ec2types.Tag{{Key: awssdk.String(TagCluster), Value: awssdk.String("dcos-aws")}}}}})
	if err != nil {
		t.Fatal(err)
	}
	s := e.spec()
	plan, _ := e.push(s, e.machinesOf(s))
	var tagged, created bool
	for _, c := range plan.Changes {
		tagged = tagged || c.String() == "~ tag security-group dcos-aws-agent: rampart:cluster=dcos-aws, rampart:role=agent"
		created = created || c.Op == "create" && c.Kind == "security-group" && c.Target == "dcos-aws-agent"
	}
	if !tagged || created {
		t.Errorf("the hand-made agent group: tagged %v, created again %v: %v", tagged, created, plan.Changes)
	}
	want := "security group dcos-aws-bootstrap (" + awssdk.ToString(old.GroupId) + ") is tagged rampart:cluster=dcos-aws but belongs to no role of the spec"
	if !hasFinding(plan.Findings, msgOrphanGroup, "", want) {
		t.Errorf("findings lack %q:\n%s", want, plan.Findings)
	}
	groups := e.describedGroups()
	if g := groups["dcos-aws-agent"]; awssdk.ToString(g.GroupId) != awssdk.ToString(made.GroupId) || !hasTag(g.Tags, TagRole, "agent") {
		t.Errorf("agent group %s tags %v", awssdk.ToString(g.GroupId), g.Tags)
	}
	if _, ok := groups["dcos-aws-bootstrap"]; !ok {
		t.Error("the orphan group was deleted")
	}
}

// TestDesireErrors: template names that collide, and a cloud-config over
// the limit, which has no pointer form.
func TestDesireErrors(t *testing.T) {
	e := &env{t: t, vpc: "vpc-0a1b2c3d4e5f60718"}
	s := e.spec()
	_, err := desireSpec(s, []Machine{{Role: "agent", Format: FormatIgnition}, {Role: "master", Node: "agent", Format: FormatIgnition}}, pointerFor(s))
	if err == nil || !strings.Contains(err.Error(), "launch template dcos-aws-agent would be both agent's and agent's") {
		t.Errorf("colliding names: %v", err)
	}
	_, err = desireSpec(s, []Machine{{Role: "agent", Format: FormatCloudConfig, Userdata: make([]byte, UserdataLimit+1)}}, pointerFor(s))
	var tl *TooLargeError
	if !errors.As(err, &tl) || !strings.Contains(err.Error(), "the cloud-config userdata is 16385 bytes, over EC2's limit of 16384 bytes, and only Ignition can be put behind a pointer") {
		t.Errorf("big cloud-config: %v", err)
	}
	if _, err := desireSpec(s, []Machine{{Role: "agent", Format: FormatIgnition, Userdata: make([]byte, UserdataLimit)}}, pointerFor(s)); err != nil {
		t.Errorf("userdata of exactly 16384 bytes: %v", err)
	}
	if _, err := desireSpec(s, []Machine{{Role: "bootstrap"}}, pointerFor(s)); err == nil || !strings.Contains(err.Error(), `role "bootstrap" is not in the spec`) {
		t.Errorf("unknown role: %v", err)
	}
}

// TestQuotaCountsForeignRules: rules rampart leaves alone take room too; when
// they push a group over the quota, push stops before any change, saying how
// many of the rules are not rampart's.
func TestQuotaCountsForeignRules(t *testing.T) {
	e := newEnv(t)
	s := e.spec("bucket: dcos-aws-ignition", "bucket: dcos-aws-ignition\n    rule_quota: 20")
	e.push(s, e.machinesOf(s))
	master := e.describedGroups()["dcos-aws-master"].GroupId
	if _, err := e.client.EC2.AuthorizeSecurityGroupIngress(e.ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: master, IpPermissions: []ec2types.IpPermission{
		{IpProtocol: awssdk.String("tcp"), FromPort: awssdk.Int32(3389), ToPort: awssdk.Int32(3389), IpRanges: []ec2types.IpRange{{CidrIp: awssdk.String("192.0.2.0/24")}}},
	}}); err != nil {
		t.Fatal(err)
	}
	changed := e.spec("bucket: dcos-aws-ignition", "bucket: dcos-aws-ignition\n    rule_quota: 20", changedSpec[2], changedSpec[3])
	d, err := desireSpec(changed, e.machinesOf(changed), pointerFor(changed))
	if err != nil {
		t.Fatal(err)
	}
	e.calls.Reset()
	_, err = e.client.Plan(e.ctx, d, PlanOptions{})
	var q *QuotaError
	if !errors.As(err, &q) || q.Group != "dcos-aws-master" || q.Count != 21 || q.Foreign != 1 ||
		!strings.Contains(err.Error(), "needs 21 IPv4 inbound rules, 1 of them not rampart's (listed as warnings), over the quota of 20") {
		t.Errorf("plan: %v", err)
	}
	if m := e.calls.Mutating(); len(m) != 0 {
		t.Errorf("mutating calls %v", m)
	}
}

// adminLines is an admins: section of eight /32s from 198.51.100.<base>.
func adminLines(base int) string {
	var b strings.Builder
	b.WriteString("admins:\n")
	for i := range 8 {
		fmt.Fprintf(&b, "  - 198.51.100.%d/32\n", base+i)
	}
	return b.String()
}

// TestPushQuotaTransient: replacing the eight admin /32s with eight others
// keeps the masters' group within the quota, but adding the 32 new admin
// rules before revoking the 32 old ones would hold both for a moment, over
// the quota: rampart revokes first, and the push succeeds. moto counts the
// limit (60) over both families together, AWS per family; the test checks
// that both counts are over it at the peak and within it at the end, so the
// order matters to either.
func TestPushQuotaTransient(t *testing.T) {
	e := newEnv(t)
	oldAdmins := e.spec("admins:\n  - 209.220.51.50/32\n", adminLines(10))
	e.push(oldAdmins, e.machinesOf(oldAdmins))
	count := func() (v4, all int) {
		for _, r := range readBack(t, e.describedGroups(), "dcos-aws")["dcos-aws-master"] {
			all++
			if r.role != "" || r.cidr.Addr().Is4() {
				v4++
			}
		}
		return v4, all
	}
	v4, all := count()
	const added = 32 // 8 admins × the masters' 4 admin ports
	if v4+added <= 60 || all+added <= 60 || v4 > 60 || all > 60 {
		t.Fatalf("the masters' group holds %d IPv4 rules, %d in all: the test needs the peak (+%d) over 60 in both counts and the end within", v4, all, added)
	}

	newAdmins := e.spec("admins:\n  - 209.220.51.50/32\n", adminLines(100))
	plan := e.plan(newAdmins, e.machinesOf(newAdmins))
	want := fmt.Sprintf("security group dcos-aws-master: adding the new ingress rules before revoking the old would hold %d IPv4 rules, over the quota of 60: rampart revokes its 32 ingress rules no longer wanted first", v4+added)
	if !hasFinding(plan.Findings, msgRevokeFirst, "roles.master", want) {
		t.Errorf("findings lack %q:\n%s", want, plan.Findings)
	}
	var order []string
	for _, c := range plan.Changes {
		if c.Target == "dcos-aws-master" && c.Kind == "ingress" && (len(order) == 0 || order[len(order)-1] != c.Op) {
			order = append(order, c.Op)
		}
	}
	if !slices.Equal(order, []string{"revoke", "authorize"}) {
		t.Errorf("the masters' ingress changes come in the order %v, want revoke, then authorize", order)
	}
	done, err := e.client.Apply(e.ctx, plan)
	if err != nil {
		t.Fatalf("apply: %v (%d of %d done)", err, len(done), len(plan.Changes))
	}
	for _, r := range readBack(t, e.describedGroups(), "dcos-aws")["dcos-aws-master"] {
		if r.cidr.IsValid() && strings.HasPrefix(r.cidr.String(), "198.51.100.1") && r.cidr.Addr().As4()[3] < 100 {
			t.Errorf("old admin rule %s survived", r)
		}
	}
	if v, _ := count(); v != v4 {
		t.Errorf("the masters' group holds %d IPv4 rules after the push, want %d", v, v4)
	}
	e.calls.Reset()
	if plan, _ := e.push(newAdmins, e.machinesOf(newAdmins)); len(plan.Changes) != 0 || len(e.calls.Mutating()) != 0 {
		t.Errorf("push after the replacement: %v, mutating calls %v", plan.Changes, e.calls.Mutating())
	}
}

// TestRuleLimitNotRetried: a rule_quota above what the account (here moto,
// 60 rules per group in all) allows lets the plan through, and AWS refuses
// the authorization: the error says to lower the quota, and not to push
// again, which would fail the same way.
func TestRuleLimitNotRetried(t *testing.T) {
	e := newEnv(t)
	twelve := adminLines(10) + "  - 198.51.100.30/32\n  - 198.51.100.31/32\n  - 198.51.100.32/32\n  - 198.51.100.33/32\n"
	s := e.spec("admins:\n  - 209.220.51.50/32\n", twelve, "bucket: dcos-aws-ignition", "bucket: dcos-aws-ignition\n    rule_quota: 100")
	_, err := e.client.Apply(e.ctx, e.plan(s, e.machinesOf(s)))
	var limit *RuleLimitError
	if !errors.As(err, &limit) || limit.Group != "dcos-aws-master" || limit.Quota != 100 ||
		!strings.Contains(err.Error(), "below provider.aws.rule_quota (100)") || !strings.Contains(err.Error(), "pushing again unchanged fails the same way") {
		t.Errorf("apply: %v", err)
	}
}

// TestPushOtherCluster: cluster dcos with role aws-agent and cluster
// dcos-aws with role agent both name a group dcos-aws-agent. A group or a
// launch template of the name tagged with another cluster stops the plan
// before any change: it is neither retagged nor stripped of its rules.
func TestPushOtherCluster(t *testing.T) {
	e := newEnv(t)
	g, err := e.client.EC2.CreateSecurityGroup(e.ctx, &ec2.CreateSecurityGroupInput{GroupName: awssdk.String("dcos-aws-agent"), Description: awssdk.String("cluster dcos, role aws-agent"), VpcId: awssdk.String(e.vpc),
		TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeSecurityGroup, Tags: []ec2types.Tag{{Key: awssdk.String(TagCluster), Value: awssdk.String("dcos")}, {Key: awssdk.String(TagRole), Value: awssdk.String("aws-agent")}}}}})
	if err != nil {
		t.Fatal(err)
	}
	theirs := []ec2types.IpPermission{{IpProtocol: awssdk.String("tcp"), FromPort: awssdk.Int32(6443), ToPort: awssdk.Int32(6443),
		IpRanges: []ec2types.IpRange{{CidrIp: awssdk.String("0.0.0.0/0"), Description: awssdk.String("rampart: the world reaches aws-agent (cluster dcos)")}}}}
	if _, err := e.client.EC2.AuthorizeSecurityGroupIngress(e.ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: g.GroupId, IpPermissions: theirs}); err != nil {
		t.Fatal(err)
	}
	d := e.desire(e.spec())
	e.calls.Reset()
	_, err = e.client.Plan(e.ctx, d, PlanOptions{})
	var ce *ClusterError
	want := "cluster dcos-aws: security group dcos-aws-agent (" + awssdk.ToString(g.GroupId) + ") belongs to cluster dcos (tagged rampart:cluster=dcos)"
	if !errors.As(err, &ce) || len(ce.Conflicts) != 1 || !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), "nothing was changed") {
		t.Errorf("plan: %v\nwant %q", err, want)
	}
	if m := e.calls.Mutating(); len(m) != 0 {
		t.Errorf("mutating calls %v", m)
	}
	agent := e.describedGroups()["dcos-aws-agent"]
	if rs := readBack(t, map[string]ec2types.SecurityGroup{"dcos-aws-agent": agent}, "dcos-aws")["dcos-aws-agent"]; len(rs) != 1 || rs[0].String() != "tcp 6443 6443 from 0.0.0.0/0" || !hasTag(agent.Tags, TagCluster, "dcos") {
		t.Errorf("the other cluster's group now has rules %v, tags %v", rs, agent.Tags)
	}

	// the same for a launch template
	if _, err := e.client.EC2.DeleteSecurityGroup(e.ctx, &ec2.DeleteSecurityGroupInput{GroupId: g.GroupId}); err != nil {
		t.Fatal(err)
	}
	lt, err := e.client.EC2.CreateLaunchTemplate(e.ctx, &ec2.CreateLaunchTemplateInput{LaunchTemplateName: awssdk.String("dcos-aws-agent"),
		LaunchTemplateData: &ec2types.RequestLaunchTemplateData{UserData: awssdk.String(base64.StdEncoding.EncodeToString([]byte("{}")))},
		TagSpecifications:  []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeLaunchTemplate, Tags: []ec2types.Tag{{Key: awssdk.String(TagCluster), Value: awssdk.String("dcos")}}}}})
	if err != nil {
		t.Fatal(err)
	}
	e.calls.Reset()
	_, err = e.client.Plan(e.ctx, d, PlanOptions{})
	want = "cluster dcos-aws: launch template dcos-aws-agent (" + awssdk.ToString(lt.LaunchTemplate.LaunchTemplateId) + ") belongs to cluster dcos (tagged rampart:cluster=dcos)"
	if !errors.As(err, &ce) || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("plan: %v\nwant %q", err, want)
	}
	if m := e.calls.Mutating(); len(m) != 0 {
		t.Errorf("mutating calls %v", m)
	}
}

// machinesWithNewCA is the spec's machines from a new state directory: a
// new etcd CA, as a push from the wrong --state (or a fresh gen) makes.
func (e *env) machinesWithNewCA(s *spec.Spec) []Machine {
	e.t.Helper()
	dir := e.t.TempDir()
	return delivered(e.t, s, filepath.Join(dir, "out"), filepath.Join(dir, "state"))
}

// templateTags reads the launch templates' rampart:etcd-ca tags, by name,
// with DescribeTags (moto's DescribeLaunchTemplates shows only the tags a
// template was created with).
func (e *env) templateTags() map[string]string {
	e.t.Helper()
	out, err := e.client.EC2.DescribeLaunchTemplates(e.ctx, &ec2.DescribeLaunchTemplatesInput{})
	if err != nil {
		e.t.Fatal(err)
	}
	tags, err := e.client.EC2.DescribeTags(e.ctx, &ec2.DescribeTagsInput{Filters: []ec2types.Filter{{Name: awssdk.String("key"), Values: []string{TagEtcdCA}}}})
	if err != nil {
		e.t.Fatal(err)
	}
	m := map[string]string{}
	for _, lt := range out.LaunchTemplates {
		m[awssdk.ToString(lt.LaunchTemplateName)] = ""
		for _, td := range tags.Tags {
			if awssdk.ToString(td.ResourceId) == awssdk.ToString(lt.LaunchTemplateId) {
				m[awssdk.ToString(lt.LaunchTemplateName)] = awssdk.ToString(td.Value)
			}
		}
	}
	return m
}

// TestPushEtcdCA: the templates of machines with etcd keys (the members;
// the agents, made etcd clients) are tagged with their CA; a push from
// another state directory (another CA) stops before any change, naming the
// templates and both CAs, also when it pushes only a role whose template is
// new (checked against the running members); --new-ca (PlanOptions.NewCA)
// replaces the CA and the tags. A template of an older push, without the
// tag, gets it.
func TestPushEtcdCA(t *testing.T) {
	e := newEnv(t)
	s := e.spec("  public-agent:\n", "  agent:\n    etcd_client: true\n  public-agent:\n")
	ms := e.machinesOf(s)
	fp, err := pki.Open(filepath.Join(e.dir, "state")).CAFingerprint()
	if err != nil {
		t.Fatal(err)
	}
	ca := fp[:16]
	e.push(s, ms)
	want := map[string]string{"dcos-aws-agent": ca, "dcos-aws-master-a": ca, "dcos-aws-master-b": ca, "dcos-aws-master-c": ca, "dcos-aws-public-agent": ""}
	if got := e.templateTags(); !maps.Equal(got, want) {
		t.Errorf("%s tags %v, want %v", TagEtcdCA, got, want)
	}

	other := e.machinesWithNewCA(s)
	d, err := desireSpec(s, other, pointerFor(s))
	if err != nil {
		t.Fatal(err)
	}
	newCA := other[0].EtcdCA
	if newCA == "" || newCA == ca {
		t.Fatalf("the new state's CA is %q, the old %q", newCA, ca)
	}
	e.calls.Reset()
	_, err = e.client.Plan(e.ctx, d, PlanOptions{})
	var ce *CAError
	msg := fmt.Sprintf("launch templates dcos-aws-agent (rampart:etcd-ca=%[1]s), dcos-aws-master-a (rampart:etcd-ca=%[1]s), dcos-aws-master-b (rampart:etcd-ca=%[1]s), dcos-aws-master-c (rampart:etcd-ca=%[1]s) were pushed with another etcd CA than the state directory's (%[2]s)", ca, newCA)
	if !errors.As(err, &ce) || !strings.HasPrefix(err.Error(), msg) || !strings.Contains(err.Error(), "--new-ca") {
		t.Errorf("plan from another CA: %v\nwant %q", err, msg)
	}
	// a new template of a client role is checked against the members'
	if _, err := e.client.EC2.DeleteLaunchTemplate(e.ctx, &ec2.DeleteLaunchTemplateInput{LaunchTemplateName: awssdk.String("dcos-aws-agent")}); err != nil {
		t.Fatal(err)
	}
	e.calls.Reset()
	if _, err = e.client.Plan(e.ctx, d, PlanOptions{Roles: []string{"agent"}}); !errors.As(err, &ce) || len(ce.Templates) != 3 || ce.Templates["dcos-aws-master-a"] != ca {
		t.Errorf("plan --role agent from another CA: %v", err)
	}
	if m := e.calls.Mutating(); len(m) != 0 {
		t.Errorf("refused plans made mutating calls %v", m)
	}

	// --new-ca: new userdata, then the new tag
	p, err := e.client.Plan(e.ctx, d, PlanOptions{NewCA: true})
	if err != nil {
		t.Fatal(err)
	}
	var tags []string
	for _, c := range p.Changes {
		if c.Op == "tag" && c.Kind == "launch-template" {
			tags = append(tags, c.Target+" "+c.Detail)
		}
	}
	wantTags := []string{"dcos-aws-master-a " + TagEtcdCA + "=" + newCA, "dcos-aws-master-b " + TagEtcdCA + "=" + newCA, "dcos-aws-master-c " + TagEtcdCA + "=" + newCA}
	if !slices.Equal(tags, wantTags) {
		t.Errorf("--new-ca tags %v, want %v", tags, wantTags)
	}
	if _, err := e.client.Apply(e.ctx, p); err != nil {
		t.Fatal(err)
	}
	for k := range want {
		if want[k] != "" {
			want[k] = newCA
		}
	}
	if got := e.templateTags(); !maps.Equal(got, want) {
		t.Errorf("%s tags after --new-ca %v, want %v", TagEtcdCA, got, want)
	}
	e.calls.Reset()
	if p, _ := e.push(s, other); len(p.Changes) != 0 || len(e.calls.Mutating()) != 0 {
		t.Errorf("push after --new-ca: %v, mutating calls %v", p.Changes, e.calls.Mutating())
	}

	// a template of an older push, without the tag, gets it and nothing else
	if _, err := e.client.EC2.DeleteTags(e.ctx, &ec2.DeleteTagsInput{Resources: []string{e.templateID("dcos-aws-master-b")}, Tags: []ec2types.Tag{{Key: awssdk.String(TagEtcdCA)}}}); err != nil {
		t.Fatal(err)
	}
	p, _ = e.push(s, other)
	if len(p.Changes) != 1 || p.Changes[0].String() != "~ tag launch-template dcos-aws-master-b: "+TagEtcdCA+"="+newCA {
		t.Errorf("push to an untagged template: %v", p.Changes)
	}
}

// templateID is the id of the launch template of the name.
func (e *env) templateID(name string) string {
	e.t.Helper()
	out, err := e.client.EC2.DescribeLaunchTemplates(e.ctx, &ec2.DescribeLaunchTemplatesInput{LaunchTemplateNames: []string{name}})
	if err != nil || len(out.LaunchTemplates) != 1 {
		e.t.Fatalf("launch template %s: %v", name, err)
	}
	return awssdk.ToString(out.LaunchTemplates[0].LaunchTemplateId)
}

// noBucket is the edit that takes the bucket out of the fixture.
var noBucket = []string{"    bucket: dcos-aws-ignition       # Ignition over 16 KB goes here\n", ""}

// standIn is a small Ignition config with a (fake) key, for machines whose
// real userdata would be over EC2's limit without a bucket.
var standIn = []byte(`{"ignition":{"version":"3.3.0"},"storage":{"files":[{"path":"/etc/ssl/certs/etcd/server.key","contents":{"source":"data:,stand-in"},"mode":384}]}}`)

// small gives the machines with etcd keys the stand-in userdata, and the
// others an empty Ignition config: real userdata may outgrow 16 KB as the
// firewall grows, and without a bucket Desire then refuses it as too large
// (TooLargeError) before its keys matter.
func small(ms []Machine) []Machine {
	for i := range ms {
		ms[i].Userdata = []byte(`{"ignition":{"version":"3.3.0"}}`)
		if ms[i].EtcdCA != "" {
			ms[i].Userdata = standIn
		}
	}
	return ms
}

// TestKeysWithoutBucket: without a bucket the etcd members' keys would stay
// in their templates' userdata: the plan stops before any call to AWS,
// naming the templates and the way out (a private bucket). A push of a role
// without keys goes ahead; PlanOptions.AllowKeysInUserdata
// (--allow-keys-in-userdata) accepts the keys, and the plan says who can
// read them.
func TestKeysWithoutBucket(t *testing.T) {
	e := newEnv(t)
	s := e.spec(noBucket...)
	d, err := desireSpec(s, small(e.machinesOf(s)), pointerFor(s))
	if err != nil {
		t.Fatal(err)
	}
	e.calls.Reset()
	_, err = e.client.Plan(e.ctx, d, PlanOptions{})
	var ke *KeysInUserdataError
	want := "launch templates dcos-aws-master-a, dcos-aws-master-b, dcos-aws-master-c would carry etcd private keys in their userdata, readable by anyone allowed ec2:DescribeLaunchTemplateVersions: set provider.aws.bucket to a private bucket"
	if !errors.As(err, &ke) || !slices.Equal(ke.Templates, []string{"dcos-aws-master-a", "dcos-aws-master-b", "dcos-aws-master-c"}) || ke.CloudConfig ||
		!strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), "--allow-keys-in-userdata") || !strings.HasSuffix(err.Error(), "nothing was changed") {
		t.Errorf("plan without a bucket: %v\nwant %q", err, want)
	}
	if all := e.calls.All(); len(all) != 0 {
		t.Errorf("the refused plan called AWS: %v", all)
	}
	if g := e.describedGroups(); len(g) != 1 {
		t.Errorf("groups after the refused plan: %v", slices.Collect(mapKeys(g)))
	}
	if lt, err := e.client.EC2.DescribeLaunchTemplates(e.ctx, &ec2.DescribeLaunchTemplatesInput{}); err != nil || len(lt.LaunchTemplates) != 0 {
		t.Errorf("launch templates after the refused plan: %v, %v", lt, err)
	}

	// a role without keys is not held back by the members' templates
	if _, err := e.client.Plan(e.ctx, d, PlanOptions{Roles: []string{"public-agent"}}); errors.As(err, &ke) {
		t.Errorf("plan --role public-agent: %v", err)
	}

	// accepted: the keys land in the userdata, and the plan warns
	p, err := e.client.Plan(e.ctx, d, PlanOptions{AllowKeysInUserdata: true})
	if err != nil {
		t.Fatal(err)
	}
	warning := "launch templates dcos-aws-master-a, dcos-aws-master-b, dcos-aws-master-c carry etcd private keys in their userdata, readable by anyone who can describe launch templates (ec2:DescribeLaunchTemplateVersions), accepted with --allow-keys-in-userdata"
	if !hasFinding(p.Findings, msgKeysInUserdata, "", warning) {
		t.Errorf("findings lack %q:\n%s", warning, p.Findings)
	}
	for _, c := range p.Changes {
		if c.Op == "upload" {
			t.Errorf("without a bucket: %s", c)
		}
	}
	if done, err := e.client.Apply(e.ctx, p); err != nil {
		t.Fatalf("apply: %v (done %v)", err, done)
	}
	if _, raw, _, _ := e.defaultUserdata("dcos-aws-master-a"); !bytes.Equal(raw, standIn) {
		t.Errorf("dcos-aws-master-a: the template's userdata (%d bytes) is not the member's own, with its key", len(raw))
	}

	// with a bucket: no error, no warning
	if p := e.plan(e.spec(), e.machinesOf(e.spec())); hasFinding(p.Findings, msgKeysInUserdata, "", "") {
		t.Errorf("with a bucket: findings\n%s", p.Findings)
	}
}

// TestKeysInCloudConfig: cloud-config has no pointer form, so a bucket does
// not take the keys out of the userdata: the error says to generate
// Ignition as well.
func TestKeysInCloudConfig(t *testing.T) {
	e := newEnv(t)
	// the fixture's cloud-config is over EC2's limit for some roles: one
	// member's, small, is enough
	d, err := desireSpec(e.spec(), []Machine{
		{Role: "master", Node: "master-a", Format: FormatCloudConfig, Userdata: []byte("#cloud-config\n"), EtcdCA: "0123456789abcdef"},
		{Role: "agent", Format: FormatCloudConfig, Userdata: []byte("#cloud-config\n")},
	}, pointerFor(e.spec()))
	if err != nil {
		t.Fatal(err)
	}
	e.calls.Reset()
	_, err = e.client.Plan(e.ctx, d, PlanOptions{})
	var ke *KeysInUserdataError
	if !errors.As(err, &ke) || !slices.Equal(ke.Templates, []string{"dcos-aws-master-a"}) || !ke.CloudConfig || !strings.Contains(err.Error(), "generate Ignition (outputs: [ignition]; cloud-config has no pointer form) and set provider.aws.bucket to a private bucket") {
		t.Errorf("cloud-config with keys: %v", err)
	}
	if all := e.calls.All(); len(all) != 0 {
		t.Errorf("the refused plan called AWS: %v", all)
	}
}

// TestHopLimit: the templates rampart makes set HttpPutResponseHopLimit 1
// (checkTemplates reads it back); a template whose default version has
// another hop limit gets a new version that says why, and a push after it
// changes nothing.
func TestHopLimit(t *testing.T) {
	e := newEnv(t)
	s := e.spec()
	machines := e.machinesOf(s)
	e.push(s, machines)
	groups := e.describedGroups()
	checkTemplates(t, e, machines, groups, 1)

	// someone raised the agents' hop limit to 2 (say, for a container that
	// wants the instance role): everything else as rampart made it
	var agent *Template
	for _, tm := range e.desire(s).Templates {
		if tm.Name == "dcos-aws-agent" {
			agent = tm
		}
	}
	v, err := e.client.EC2.CreateLaunchTemplateVersion(e.ctx, &ec2.CreateLaunchTemplateVersionInput{LaunchTemplateName: awssdk.String(agent.Name), LaunchTemplateData: &ec2types.RequestLaunchTemplateData{
		UserData:         awssdk.String(base64.StdEncoding.EncodeToString(agent.Userdata)),
		SecurityGroupIds: []string{awssdk.ToString(groups["dcos-aws-agent"].GroupId)},
		MetadataOptions: &ec2types.LaunchTemplateInstanceMetadataOptionsRequest{HttpTokens: ec2types.LaunchTemplateHttpTokensStateRequired,
			HttpEndpoint: ec2types.LaunchTemplateInstanceMetadataEndpointStateEnabled, HttpPutResponseHopLimit: awssdk.Int32(2)},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.EC2.ModifyLaunchTemplate(e.ctx, &ec2.ModifyLaunchTemplateInput{LaunchTemplateName: awssdk.String(agent.Name),
		DefaultVersion: awssdk.String(strconv.FormatInt(awssdk.ToInt64(v.LaunchTemplateVersion.VersionNumber), 10))}); err != nil {
		t.Fatal(err)
	}
	if _, _, _, data := e.defaultUserdata(agent.Name); awssdk.ToInt32(data.MetadataOptions.HttpPutResponseHopLimit) != 2 {
		t.Fatalf("the hand-made version has hop limit %v", data.MetadataOptions.HttpPutResponseHopLimit)
	}

	e.calls.Reset()
	p, _ := e.push(s, machines)
	var got []string
	for _, c := range p.Changes {
		got = append(got, c.String())
	}
	want := []string{"~ version launch-template dcos-aws-agent: new default version from version 2: instance metadata hop limit 1, was 2 (so that no container behind the node's NAT gets an IMDSv2 token and reads the userdata)"}
	if !slices.Equal(got, want) {
		t.Errorf("plan:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if m := e.calls.Mutating(); !slices.Equal(m, []string{"CreateLaunchTemplateVersion", "ModifyLaunchTemplate"}) {
		t.Errorf("mutating calls %v", m)
	}
	n, _, ud, data := e.defaultUserdata(agent.Name)
	if mo := data.MetadataOptions; n != 3 || !bytes.Equal(ud, agent.Userdata) || mo == nil || awssdk.ToInt32(mo.HttpPutResponseHopLimit) != 1 || mo.HttpTokens != ec2types.LaunchTemplateHttpTokensStateRequired {
		t.Errorf("%s: default version %d, userdata kept %v, metadata options %+v", agent.Name, n, bytes.Equal(ud, agent.Userdata), mo)
	}
	e.calls.Reset()
	if p, _ := e.push(s, machines); len(p.Changes) != 0 || len(e.calls.Mutating()) != 0 {
		t.Errorf("push after the repair: %v, mutating calls %v", p.Changes, e.calls.Mutating())
	}
}

// headForbidden makes S3 answer HeadObject of a missing key with 403, as it
// does to a caller without s3:ListBucket: the 404 moto sends is turned into
// a 403 before the SDK reads it.
func headForbidden(stack *middleware.Stack) error {
	return stack.Deserialize.Add(middleware.DeserializeMiddlewareFunc("rampart-head-403", func(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (middleware.DeserializeOutput, middleware.Metadata, error) {
		out, md, err := next.HandleDeserialize(ctx, in)
		if r, ok := out.RawResponse.(*smithyhttp.Response); ok && middleware.GetOperationName(ctx) == "HeadObject" && r.StatusCode == http.StatusNotFound {
			r.StatusCode, r.Status = http.StatusForbidden, "403 Forbidden"
		}
		return out, md, err
	}), middleware.After)
}

// TestPushWithoutListBucket: a 403 to HeadObject (no s3:ListBucket) means
// the object is missing: it is uploaded, and a second push finds it.
func TestPushWithoutListBucket(t *testing.T) {
	e := newEnv(t)
	var err error
	if e.client, err = NewClient(e.ctx, "us-east-1", e.calls.Option, headForbidden); err != nil {
		t.Fatal(err)
	}
	s := e.spec()
	p, _ := e.push(s, e.machinesOf(s))
	if n := len(slices.DeleteFunc(slices.Clone(p.Changes), func(c Change) bool { return c.Op != "upload" })); n != 3 {
		t.Errorf("%d uploads, want the three members' configs: %v", n, p.Changes)
	}
	checkTemplates(t, e, e.machinesOf(s), e.describedGroups(), 1)
	e.calls.Reset()
	if p, _ := e.push(s, e.machinesOf(s)); len(p.Changes) != 0 || len(e.calls.Mutating()) != 0 {
		t.Errorf("second push: %v, mutating calls %v", p.Changes, e.calls.Mutating())
	}
}

// TestPublicBucket: etcd keys never go to a public bucket (a policy that
// allows everyone, or an ACL that grants AllUsers), unless Block Public
// Access neutralises it; a private bucket without Block Public Access gets
// a warning.
func TestPublicBucket(t *testing.T) {
	e := newEnv(t)
	s := e.spec()
	d := e.desire(s)
	bucket := awssdk.String("dcos-aws-ignition")
	plan := func() error {
		e.t.Helper()
		e.calls.Reset()
		p, err := e.client.Plan(e.ctx, d, PlanOptions{})
		if m := e.calls.Mutating(); len(m) != 0 {
			t.Errorf("plan made mutating calls %v", m)
		}
		if err == nil && !hasFinding(p.Findings, msgBucketPublicAccess, "provider.aws.bucket", "bucket dcos-aws-ignition holds etcd keys and is private, but does not block public access") {
			t.Errorf("no warning about Block Public Access:\n%s", p.Findings)
		}
		return err
	}
	if err := plan(); err != nil {
		t.Fatalf("private bucket: %v", err)
	}
	policy := `{"Version": "2012-10-17", "Statement": [{"Sid": "Everyone", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::dcos-aws-ignition/*"}]}`
	if _, err := e.client.S3.PutBucketPolicy(e.ctx, &s3.PutBucketPolicyInput{Bucket: bucket, Policy: &policy}); err != nil {
		t.Fatal(err)
	}
	err := plan()
	var pub *PublicBucketError
	if !errors.As(err, &pub) || err.Error() != `bucket dcos-aws-ignition (provider.aws.bucket) is public: its policy allows everyone without a condition (statement "Everyone"); rampart does not upload etcd keys to it: make the bucket private (S3 Block Public Access) and give only the instances read access` {
		t.Errorf("public policy: %v", err)
	}
	if _, err := e.client.S3.DeleteBucketPolicy(e.ctx, &s3.DeleteBucketPolicyInput{Bucket: bucket}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.S3.PutBucketAcl(e.ctx, &s3.PutBucketAclInput{Bucket: bucket, ACL: s3types.BucketCannedACLPublicRead}); err != nil {
		t.Fatal(err)
	}
	if err := plan(); !errors.As(err, &pub) || !strings.Contains(err.Error(), "its ACL grants READ to http://acs.amazonaws.com/groups/global/AllUsers") {
		t.Errorf("public ACL: %v", err)
	}
	if _, err := e.client.S3.PutPublicAccessBlock(e.ctx, &s3.PutPublicAccessBlockInput{Bucket: bucket, PublicAccessBlockConfiguration: &s3types.PublicAccessBlockConfiguration{
		BlockPublicAcls: awssdk.Bool(true), IgnorePublicAcls: awssdk.Bool(true), BlockPublicPolicy: awssdk.Bool(true), RestrictPublicBuckets: awssdk.Bool(true)}}); err != nil {
		t.Fatal(err)
	}
	e.calls.Reset()
	p, err := e.client.Plan(e.ctx, d, PlanOptions{})
	if err != nil || hasFinding(p.Findings, msgBucketPublicAccess, "provider.aws.bucket", "") {
		t.Errorf("with Block Public Access: %v, findings\n%s", err, p.Findings)
	}
}

// TestForeignExposure: rules rampart does not own that open a control-plane
// port (Marathon, etcd, ...) to the whole world are error-level findings,
// not warnings; they are still left alone, and the plan still goes ahead.
func TestForeignExposure(t *testing.T) {
	e := newEnv(t)
	e.push(e.spec(), e.machinesOf(e.spec()))
	master := e.describedGroups()["dcos-aws-master"].GroupId
	if _, err := e.client.EC2.AuthorizeSecurityGroupIngress(e.ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: master, IpPermissions: []ec2types.IpPermission{
		{IpProtocol: awssdk.String("tcp"), FromPort: awssdk.Int32(8000), ToPort: awssdk.Int32(8100), IpRanges: []ec2types.IpRange{{CidrIp: awssdk.String("0.0.0.0/0"), Description: awssdk.String("ops: debugging")}}},
		{IpProtocol: awssdk.String("-1"), Ipv6Ranges: []ec2types.Ipv6Range{{CidrIpv6: awssdk.String("::/0")}}},
		{IpProtocol: awssdk.String("tcp"), FromPort: awssdk.Int32(2379), ToPort: awssdk.Int32(2379), IpRanges: []ec2types.IpRange{{CidrIp: awssdk.String("192.0.2.0/24")}}},
		{IpProtocol: awssdk.String("tcp"), FromPort: awssdk.Int32(3389), ToPort: awssdk.Int32(3389), IpRanges: []ec2types.IpRange{{CidrIp: awssdk.String("0.0.0.0/0")}}},
	}}); err != nil {
		t.Fatal(err)
	}
	s := e.spec(changedSpec...)
	p, done := e.push(s, e.machinesOf(s))
	want := []string{
		`security group dcos-aws-master: ingress rule all traffic from ::/0 ("") opens unauthenticated control-plane ports to the world (ZooKeeper tcp 2181, etcd client API tcp 2379, etcd peer API tcp 2380, Mesos master tcp 5050, Mesos agent tcp 5051, Marathon tcp 8080, Exhibitor tcp 8181, read-only kubelet tcp 10255); it is not rampart's, so rampart leaves it: revoke it by hand`,
		`security group dcos-aws-master: ingress rule tcp 8000-8100 from 0.0.0.0/0 ("ops: debugging") opens unauthenticated control-plane ports to the world (Marathon tcp 8080); it is not rampart's, so rampart leaves it: revoke it by hand`,
	}
	var got []string
	for _, f := range p.Findings.Entries {
		if f.Severity == report.Error {
			if f.Code != MsgForeignExposure.Code || f.Path.String() != "roles.master" {
				t.Errorf("error %s (%#v): want %s about roles.master", f, f, MsgForeignExposure.Code)
			}
			got = append(got, f.Message)
		}
	}
	if got = sorted(got); !slices.Equal(got, want) {
		t.Errorf("exposures:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, w := range []string{"tcp 2379 from 192.0.2.0/24", "tcp 3389 from 0.0.0.0/0"} {
		if !hasFinding(p.Findings, msgForeignRule, "roles.master", "security group dcos-aws-master: ingress rule "+w+` ("") is not rampart's: left alone`) {
			t.Errorf("findings lack %s:\n%s", w, p.Findings)
		}
	}
	if len(done) != len(p.Changes) || len(done) == 0 {
		t.Errorf("made %d of %d changes", len(done), len(p.Changes))
	}
	if got := len(readBack(t, e.describedGroups(), "dcos-aws")["dcos-aws-master"]); got != len(dcosAWSGroups["dcos-aws-master"])-1+4 {
		t.Errorf("the masters' group holds %d rules: the hand-added ones must stay", got)
	}
}

// TestAdoptedTemplateNetworkInterfaces: a template made by hand with its
// groups on a network interface (EC2 refuses instance-level groups beside
// them) gets rampart's group on the primary interface, next to the groups
// already there, and no instance-level groups; the interface's other
// settings are kept.
func TestAdoptedTemplateNetworkInterfaces(t *testing.T) {
	e := newEnv(t)
	other, err := e.client.EC2.CreateSecurityGroup(e.ctx, &ec2.CreateSecurityGroupInput{GroupName: awssdk.String("monitoring"), Description: awssdk.String("by hand"), VpcId: awssdk.String(e.vpc)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.EC2.CreateLaunchTemplate(e.ctx, &ec2.CreateLaunchTemplateInput{LaunchTemplateName: awssdk.String("dcos-aws-agent"),
		LaunchTemplateData: &ec2types.RequestLaunchTemplateData{NetworkInterfaces: []ec2types.LaunchTemplateInstanceNetworkInterfaceSpecificationRequest{
			{DeviceIndex: awssdk.Int32(0), AssociatePublicIpAddress: awssdk.Bool(true), DeleteOnTermination: awssdk.Bool(true), Groups: []string{awssdk.ToString(other.GroupId)}},
		}}}); err != nil {
		t.Fatal(err)
	}
	s := e.spec()
	e.push(s, e.machinesOf(s))
	_, _, _, data := e.defaultUserdata("dcos-aws-agent")
	agent := awssdk.ToString(e.describedGroups()["dcos-aws-agent"].GroupId)
	if len(data.SecurityGroupIds) != 0 || len(data.NetworkInterfaces) != 1 {
		t.Fatalf("instance groups %v, %d network interfaces", data.SecurityGroupIds, len(data.NetworkInterfaces))
	}
	nic := data.NetworkInterfaces[0]
	if !slices.Equal(nic.Groups, []string{agent, awssdk.ToString(other.GroupId)}) || !awssdk.ToBool(nic.AssociatePublicIpAddress) || !awssdk.ToBool(nic.DeleteOnTermination) || awssdk.ToInt32(nic.DeviceIndex) != 0 {
		t.Errorf("primary interface: groups %v (want %s and %s), public IP %v, delete on termination %v", nic.Groups, agent, awssdk.ToString(other.GroupId), awssdk.ToBool(nic.AssociatePublicIpAddress), awssdk.ToBool(nic.DeleteOnTermination))
	}
	e.calls.Reset()
	if p, _ := e.push(s, e.machinesOf(s)); len(p.Changes) != 0 || len(e.calls.Mutating()) != 0 {
		t.Errorf("second push: %v, mutating calls %v", p.Changes, e.calls.Mutating())
	}
}

// TestReuseVersion: when a push made a new version but could not make it
// the default, the next push makes that version the default instead of
// making another.
func TestReuseVersion(t *testing.T) {
	e := newEnv(t)
	e.push(e.spec(), e.machinesOf(e.spec()))
	changed := e.spec(changedSpec...)
	var want *Template
	for _, tm := range e.desire(changed).Templates {
		if tm.Name == "dcos-aws-public-agent" {
			want = tm
		}
	}
	// what the failed push left: version 2, not the default
	if _, err := e.client.EC2.CreateLaunchTemplateVersion(e.ctx, &ec2.CreateLaunchTemplateVersionInput{LaunchTemplateName: awssdk.String(want.Name), LaunchTemplateData: &ec2types.RequestLaunchTemplateData{
		UserData:         awssdk.String(base64.StdEncoding.EncodeToString(want.Userdata)),
		SecurityGroupIds: []string{awssdk.ToString(e.describedGroups()["dcos-aws-public-agent"].GroupId)},
		MetadataOptions:  &ec2types.LaunchTemplateInstanceMetadataOptionsRequest{HttpTokens: ec2types.LaunchTemplateHttpTokensStateRequired, HttpPutResponseHopLimit: awssdk.Int32(1)},
	}}); err != nil {
		t.Fatal(err)
	}
	e.calls.Reset()
	p, _ := e.push(changed, e.machinesOf(changed))
	if !slices.ContainsFunc(p.Changes, func(c Change) bool {
		return c.Target == want.Name && strings.HasPrefix(c.Detail, "make version 2, made before with what is wanted, the default instead of version 1")
	}) {
		t.Errorf("plan %v does not reuse version 2 of %s", p.Changes, want.Name)
	}
	if n := len(slices.DeleteFunc(e.calls.Mutating(), func(op string) bool { return op != "CreateLaunchTemplateVersion" })); n != 3 {
		t.Errorf("%d versions made, want 3 (the masters'; the public agents' is reused)", n)
	}
	if n, _, ud, _ := e.defaultUserdata(want.Name); n != 2 || !bytes.Equal(ud, want.Userdata) {
		t.Errorf("%s: default version %d, userdata wanted: %v", want.Name, n, bytes.Equal(ud, want.Userdata))
	}
}
