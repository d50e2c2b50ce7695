package aws

// S3 objects: the full Ignition configs behind a launch template's pointer
// config, and the checks that their bucket is private.

import (
	"bytes"
	"context"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/rampart-cluster/rampart/generator/report"
)

// metaSHA512 is the S3 object metadata key holding the object's sha512.
const metaSHA512 = "sha512"

// pointerTo puts the full Ignition config behind a pointer: the object goes
// to the bucket under a key named by its hash (instances launched from an
// older template version keep finding theirs), and the userdata becomes the
// config pointer makes, which replaces itself with the object, verified by
// its sha512.
func pointerTo(cluster, bucket, template string, data []byte, keys bool, pointer PointerFunc) (*Object, []byte, error) {
	if pointer == nil {
		return nil, nil, errors.New("the userdata goes to S3 behind a pointer config, and no pointer builder was given")
	}
	sum := sha512.Sum512(data)
	hexSum := hex.EncodeToString(sum[:])
	obj := &Object{Bucket: bucket, Key: fmt.Sprintf("%s/%s/%s.ign", cluster, template, hexSum[:32]), Data: data, SHA512: hexSum, Keys: keys}
	ign, err := pointer(obj.URL(), data)
	if err != nil {
		return nil, nil, err
	}
	return obj, ign, nil
}

func (c *Client) planObjects(ctx context.Context, p *Plan, want func(string) bool) error {
	checked, public := map[string]bool{}, map[string]bool{}
	for _, t := range p.Desired.Templates {
		o := t.Object
		if o == nil || !want(t.Role) {
			continue
		}
		if !checked[o.Bucket] {
			checked[o.Bucket] = true
			if _, err := c.S3.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: awssdk.String(o.Bucket)}); err != nil {
				return fmt.Errorf("bucket %s (provider.aws.bucket) for the %d-byte userdata of %s: %w", o.Bucket, t.Size, t.Name, err)
			}
		}
		head, err := c.S3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: awssdk.String(o.Bucket), Key: awssdk.String(o.Key)})
		var nf *s3types.NotFound
		var re *awshttp.ResponseError
		switch {
		case errors.As(err, &nf) || isCode(err, "NoSuchKey", "NotFound"):
		case errors.As(err, &re) && re.HTTPStatusCode() == http.StatusForbidden:
			// without s3:ListBucket, S3 answers a missing key with 403: the
			// object is uploaded (it is content-addressed: the same bytes)
		case err != nil:
			return fmt.Errorf("reading %s: %w", o.URL(), err)
		case awssdk.ToInt64(head.ContentLength) == int64(len(o.Data)) && head.Metadata[metaSHA512] == o.SHA512:
			continue
		}
		if o.Keys && !public[o.Bucket] {
			public[o.Bucket] = true
			if err := c.checkPrivate(ctx, o.Bucket, p); err != nil {
				return err
			}
		}
		p.objects = append(p.objects, o)
		p.Changes = append(p.Changes, Change{Op: "upload", Kind: "s3-object", Target: o.URL(), Detail: fmt.Sprintf("%d bytes of Ignition for %s, sha512-%s…", len(o.Data), t.Name, o.SHA512[:16])})
	}
	return nil
}

// checkPrivate refuses a bucket that is public before etcd keys go to it:
// its policy is public (AWS's GetBucketPolicyStatus says so, or a statement
// allows everyone without a condition) and the bucket does not restrict
// public policies, or its ACL grants everyone or every AWS account and the
// bucket does not ignore public ACLs. A bucket that is private but does not
// block public access in all four ways gets a warning.
func (c *Client) checkPrivate(ctx context.Context, bucket string, p *Plan) error {
	b := awssdk.String(bucket)
	cannot := func(what string, err error) error {
		return fmt.Errorf("bucket %s (provider.aws.bucket): cannot tell whether it is public (%s: %w); rampart uploads etcd keys only to a bucket it can see is private (it needs s3:GetBucketPolicyStatus, s3:GetBucketPolicy, s3:GetBucketAcl and s3:GetBucketPublicAccessBlock)", bucket, what, err)
	}
	var block s3types.PublicAccessBlockConfiguration
	pab, err := c.S3.GetPublicAccessBlock(ctx, &s3.GetPublicAccessBlockInput{Bucket: b})
	switch {
	case isCode(err, "NoSuchPublicAccessBlockConfiguration"):
	case err != nil:
		return cannot("GetPublicAccessBlock", err)
	case pab.PublicAccessBlockConfiguration != nil:
		block = *pab.PublicAccessBlockConfiguration
	}
	var why []string
	status, err := c.S3.GetBucketPolicyStatus(ctx, &s3.GetBucketPolicyStatusInput{Bucket: b})
	switch {
	case isCode(err, "NoSuchBucketPolicy"):
	case err != nil:
		return cannot("GetBucketPolicyStatus", err)
	case status.PolicyStatus != nil && awssdk.ToBool(status.PolicyStatus.IsPublic) && !awssdk.ToBool(block.RestrictPublicBuckets):
		why = append(why, "its policy is public (GetBucketPolicyStatus)")
	}
	pol, err := c.S3.GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: b})
	switch {
	case isCode(err, "NoSuchBucketPolicy"):
	case err != nil:
		return cannot("GetBucketPolicy", err)
	case len(why) == 0 && !awssdk.ToBool(block.RestrictPublicBuckets):
		if sid, ok := allowsEveryone(awssdk.ToString(pol.Policy)); ok {
			why = append(why, fmt.Sprintf("its policy allows everyone without a condition (statement %q)", sid))
		}
	}
	acl, err := c.S3.GetBucketAcl(ctx, &s3.GetBucketAclInput{Bucket: b})
	if err != nil {
		return cannot("GetBucketAcl", err)
	}
	if !awssdk.ToBool(block.IgnorePublicAcls) {
		for _, g := range acl.Grants {
			if g.Grantee != nil && slices.Contains(publicGroups, awssdk.ToString(g.Grantee.URI)) {
				why = append(why, fmt.Sprintf("its ACL grants %s to %s", g.Permission, awssdk.ToString(g.Grantee.URI)))
			}
		}
	}
	if len(why) > 0 {
		return &PublicBucketError{Bucket: bucket, Reasons: why}
	}
	if !awssdk.ToBool(block.BlockPublicAcls) || !awssdk.ToBool(block.IgnorePublicAcls) || !awssdk.ToBool(block.BlockPublicPolicy) || !awssdk.ToBool(block.RestrictPublicBuckets) {
		p.Findings.Append(msgBucketPublicAccess.At(report.At("provider", "aws", "bucket"), report.Pos{}, bucket))
	}
	return nil
}

// publicGroups are the ACL grantees that make a bucket public.
var publicGroups = []string{"http://acs.amazonaws.com/groups/global/AllUsers", "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"}

// allowsEveryone reports whether a bucket policy has an Allow statement for
// every principal ("*" or {"AWS": "*"}) without a condition, and its Sid.
// It is the conservative half of what GetBucketPolicyStatus computes (which
// moto does not), so a policy it misses is one AWS still reports.
func allowsEveryone(policy string) (string, bool) {
	var doc struct {
		Statement json.RawMessage
	}
	if json.Unmarshal([]byte(policy), &doc) != nil {
		return "", false
	}
	type statement struct {
		Sid       string
		Effect    string
		Principal json.RawMessage
		Condition json.RawMessage
	}
	var stmts []statement
	if json.Unmarshal(doc.Statement, &stmts) != nil {
		var one statement
		if json.Unmarshal(doc.Statement, &one) != nil {
			return "", false
		}
		stmts = []statement{one}
	}
	for _, st := range stmts {
		if st.Effect != "Allow" || len(st.Condition) > 0 && string(st.Condition) != "{}" {
			continue
		}
		var star string
		var aws struct{ AWS json.RawMessage }
		everyone := json.Unmarshal(st.Principal, &star) == nil && star == "*"
		if !everyone && json.Unmarshal(st.Principal, &aws) == nil && len(aws.AWS) > 0 {
			var one string
			var many []string
			everyone = json.Unmarshal(aws.AWS, &one) == nil && one == "*" || json.Unmarshal(aws.AWS, &many) == nil && slices.Contains(many, "*")
		}
		if everyone {
			return st.Sid, true
		}
	}
	return "", false
}

func (c *Client) applyObjects(ctx context.Context, p *Plan, done *[]Change) error {
	for _, o := range p.objects {
		_, err := c.S3.PutObject(ctx, &s3.PutObjectInput{
			Bucket:      awssdk.String(o.Bucket),
			Key:         awssdk.String(o.Key),
			Body:        bytes.NewReader(o.Data),
			ContentType: awssdk.String("application/json"),
			Metadata:    map[string]string{metaSHA512: o.SHA512},
			// an etcd member's config holds its keys: encrypted at rest
			ServerSideEncryption: s3types.ServerSideEncryptionAes256,
		})
		if err != nil {
			return fmt.Errorf("uploading %s: %w", o.URL(), err)
		}
		*done = append(*done, Change{Op: "upload", Kind: "s3-object", Target: o.URL(), Detail: fmt.Sprintf("%d bytes", len(o.Data))})
	}
	return nil
}
