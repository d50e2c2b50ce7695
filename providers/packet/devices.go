package packet

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/packethost/packngo"
)

// Tag names rampart puts on the devices it creates and looks for when it
// reads a project.
const (
	TagCluster = "rampart:cluster=" // + the spec's cluster name
	TagRole    = "rampart:role="    // + the node's role
	// TagEtcdCA marks a device whose userdata carries etcd keys (an etcd
	// member, a role with etcd_client): + the first CAPrefix hex digits of
	// the sha256 of the etcd CA certificate (pki.Fingerprint, the
	// manifest's etcd_ca_sha256).
	TagEtcdCA = "rampart:etcd-ca="
)

// CAPrefix is how many hex digits of a CA's fingerprint TagEtcdCA keeps.
const CAPrefix = 16

// gone are the states of a device that no longer counts as the node's
// machine: it is going away or has gone.
var gone = map[string]bool{"deprovisioning": true, "deleted": true}

// deviceList is the Metal API's DeviceList: devices and page metadata.
type deviceList struct {
	Devices []packngo.Device `json:"devices"`
	Meta    struct {
		Total       int `json:"total"`
		CurrentPage int `json:"current_page"`
		LastPage    int `json:"last_page"`
	} `json:"meta"`
}

// listFilter narrows a device list on the server side.
type listFilter struct {
	Hostname string // partial hostname match
	Tag      string // exact tag
}

// listDevices reads every device of a project: the first page, then the
// others in parallel, each page retried on its own.
func (c *Client) listDevices(ctx context.Context, project string, f listFilter) ([]packngo.Device, error) {
	perPage := c.perPage()
	page := func(n int) (*deviceList, error) {
		q := url.Values{}
		q.Set("page", strconv.Itoa(n))
		q.Set("per_page", strconv.Itoa(perPage))
		if f.Hostname != "" {
			q.Set("hostname", f.Hostname)
		}
		if f.Tag != "" {
			q.Set("tag", f.Tag)
		}
		path := "projects/" + url.PathEscape(project) + "/devices?" + q.Encode()
		out := new(deviceList)
		err := c.call(ctx, fmt.Sprintf("list devices of project %s (page %d)", project, n), nil, func(api *packngo.Client) (*packngo.Response, error) {
			*out = deviceList{}
			return api.DoRequest("GET", path, nil, out)
		})
		return out, err
	}
	first, err := page(1)
	if err != nil {
		return nil, err
	}
	devices := first.Devices
	if first.Meta.LastPage <= 1 {
		return devices, nil
	}
	rest := make([]*deviceList, first.Meta.LastPage+1)
	errs := make([]error, first.Meta.LastPage+1)
	c.each(ctx, first.Meta.LastPage-1, func(i int) {
		rest[i+2], errs[i+2] = page(i + 2)
	})
	for n := 2; n <= first.Meta.LastPage; n++ {
		if errs[n] != nil {
			return nil, errs[n]
		}
		if rest[n] == nil {
			// each stopped handing out pages: the context ended.
			err := ctx.Err()
			if err == nil {
				err = errors.New("not read")
			}
			return nil, &APIError{What: fmt.Sprintf("list devices of project %s (page %d)", project, n), Err: err}
		}
		devices = append(devices, rest[n].Devices...)
	}
	return devices, nil
}

// each runs fn(0..n-1) on at most Concurrency goroutines; it returns when
// all have run, or when ctx ends and the started ones have returned.
func (c *Client) each(ctx context.Context, n int, fn func(i int)) {
	work := make(chan int)
	var wg sync.WaitGroup
	for range min(c.concurrency(), n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				fn(i)
			}
		}()
	}
feed:
	for i := range n {
		// Once ctx has ended nothing more starts, even with a worker free.
		if ctx.Err() != nil {
			break
		}
		select {
		case work <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
}

// wantTags is the device's tags with rampart's tags set for the machine
// (cluster, role and, when its userdata carries etcd keys, the CA; a stale
// CA tag is dropped), every other tag kept, sorted; changed says whether
// they differ from what the device has.
func wantTags(have []string, cluster string, m Machine) (tags []string, changed bool) {
	for _, t := range have {
		if strings.HasPrefix(t, TagCluster) || strings.HasPrefix(t, TagRole) || strings.HasPrefix(t, TagEtcdCA) {
			continue
		}
		tags = append(tags, t)
	}
	tags = append(tags, TagCluster+cluster, TagRole+m.Role)
	if ca := caTag(m.EtcdCA); ca != "" {
		tags = append(tags, TagEtcdCA+ca)
	}
	slices.Sort(tags)
	tags = slices.Compact(tags)
	cur := slices.Clone(have)
	slices.Sort(cur)
	cur = slices.Compact(cur)
	return tags, !slices.Equal(tags, cur)
}

// tagValue is the value of the first tag with the prefix, or "".
func tagValue(tags []string, prefix string) string {
	for _, t := range tags {
		if v, ok := strings.CutPrefix(t, prefix); ok {
			return v
		}
	}
	return ""
}

// caTag is the value of TagEtcdCA for a CA fingerprint: its first CAPrefix
// hex digits.
func caTag(fingerprint string) string {
	return fingerprint[:min(len(fingerprint), CAPrefix)]
}

// CACheck says which etcd CA a device tagged TagEtcdCA may have besides the
// one of the userdata rampart puts on it. Userdata of another CA than the
// one a device's node runs with gives certificates the other members do not
// trust: most often a wrong --state, whose gen made a new CA.
type CACheck struct {
	// NewCA accepts any: the CA was replaced on purpose (--new-ca).
	NewCA bool
	// Replaced are the fingerprints of the CAs the state replaced on
	// purpose (certs rotate --ca; pki.State.ReplacedCAs): accepted.
	Replaced []string
}

// CAMismatchError is a device whose TagEtcdCA names another CA than the
// userdata rampart would put on it.
type CAMismatchError struct {
	Hostname string // the machine's hostname
	DeviceID string // the device's id
	DeviceCA string // the device's tag value (CAPrefix hex digits)
	WantCA   string // the machine's CA fingerprint, in full
}

// Error names the device and both fingerprints.
func (e *CAMismatchError) Error() string {
	return fmt.Sprintf("%s: device %s is tagged %s%s, but this userdata carries keys of the etcd CA %s (sha256 %s): the members that run would not trust its certificates; is --state this cluster's state directory? If the CA was replaced on purpose, --new-ca accepts it",
		e.Hostname, e.DeviceID, TagEtcdCA, e.DeviceCA, caTag(e.WantCA), e.WantCA)
}

// check is nil when machine m's userdata may go on device d: the device
// has no CA tag, the userdata no keys, the CAs agree, or c accepts the
// device's.
func (c CACheck) check(m Machine, d *packngo.Device) error {
	have, want := tagValue(d.Tags, TagEtcdCA), caTag(m.EtcdCA)
	if have == "" || want == "" || have == want || c.NewCA {
		return nil
	}
	for _, r := range c.Replaced {
		if caTag(r) == have {
			return nil
		}
	}
	return &CAMismatchError{Hostname: m.Hostname, DeviceID: d.ID, DeviceCA: have, WantCA: m.EtcdCA}
}
