package packet

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/packethost/packngo"
)

// ErrNoDevice is returned when no device of the project has the hostname.
var ErrNoDevice = errors.New("no device with this hostname in the project")

// ErrBusy is returned for a device that is being provisioned or reinstalled:
// a reinstall is not asked for on top of one under way (perhaps one asked
// for before, whose answer was lost).
var ErrBusy = errors.New("a provisioning or reinstall of the device is under way")

// ErrUntagged is returned for a device with the machine's hostname but no
// rampart:cluster tag: it may be someone else's, and a reinstall wipes it.
var ErrUntagged = errors.New("it has the node's hostname but no rampart:cluster tag")

// ReinstallOptions tune a reinstall.
type ReinstallOptions struct {
	// CA says which etcd CAs, besides the machine's own, the device may be
	// tagged with.
	CA CACheck
	// Adopt reinstalls a device without a rampart:cluster tag.
	Adopt bool
}

// busy are the states of a device whose provisioning or reinstall has not
// finished.
var busy = map[string]bool{"queued": true, "provisioning": true, "reinstalling": true}

// Reinstalled says what Reinstall did.
type Reinstalled struct {
	DeviceID string // the Metal id of the reinstalled device
	// Updated lists what was put on the device before the reinstall
	// ("userdata", "tags"); empty when it already had them.
	Updated []string
}

// Reinstall reinstalls the device of one machine with its regenerated
// userdata: it finds the device by hostname in the project, puts the
// userdata (and rampart's tags) on it where they differ, then asks for a
// reinstall with the target's operating system. Ignition runs only on a
// device's first boot, so this is how new userdata reaches a running node.
// The disks are wiped (no preserve_data): the node comes back as the spec
// describes it.
//
// Refused, before any change: a device tagged TagEtcdCA with another CA
// than the machine's (a *CAMismatchError) unless o.CA accepts it, since the
// node would come back with certificates the other members do not trust; a
// device without a rampart:cluster tag (ErrUntagged) unless o.Adopt; a
// device being provisioned or reinstalled (ErrBusy).
func (c *Client) Reinstall(ctx context.Context, t Target, m Machine, o ReinstallOptions) (*Reinstalled, error) {
	d, err := c.findDevice(ctx, t, m.Hostname)
	if err != nil {
		return nil, err
	}
	if err := o.CA.check(m, d); err != nil {
		return nil, err
	}
	if tagValue(d.Tags, TagCluster) == "" && !o.Adopt {
		return nil, fmt.Errorf("%s: device %s: %w (%s%s): it may be someone else's machine, and a reinstall wipes its disks; --adopt reinstalls it anyway", m.Hostname, d.ID, ErrUntagged, TagCluster, t.Cluster)
	}
	if busy[d.State] {
		return nil, fmt.Errorf("%s: device %s is %s: %w; wait until it is active, then run again if it should be reinstalled once more", m.Hostname, d.ID, d.State, ErrBusy)
	}
	out := &Reinstalled{DeviceID: d.ID}
	s := compare(t, m, d)
	if len(s.Changes) > 0 {
		if err := c.update(ctx, s); err != nil {
			return out, err
		}
		if s.userdata {
			out.Updated = append(out.Updated, "userdata")
		}
		if s.tags != nil {
			out.Updated = append(out.Updated, "tags")
		}
	}
	fields := &packngo.DeviceReinstallFields{OperatingSystem: t.OS}
	// A reinstall the API took before failing to answer shows as the
	// device's state (it was none of the busy ones before); it is not asked
	// for twice.
	check := func() (bool, error) {
		var cur *packngo.Device
		err := c.call(ctx, "get "+m.Hostname, nil, func(api *packngo.Client) (*packngo.Response, error) {
			var resp *packngo.Response
			var err error
			cur, resp, err = api.Devices.Get(d.ID, nil)
			return resp, err
		})
		if err != nil {
			return false, err
		}
		return cur.State == "reinstalling", nil
	}
	err = c.call(ctx, "reinstall "+m.Hostname, check, func(api *packngo.Client) (*packngo.Response, error) {
		return api.Devices.Reinstall(d.ID, fields)
	})
	return out, err
}

// findDevice is the one live device of the project with the hostname.
func (c *Client) findDevice(ctx context.Context, t Target, hostname string) (*packngo.Device, error) {
	ds, err := c.listDevices(ctx, t.Project, listFilter{Hostname: hostname})
	if err != nil {
		return nil, err
	}
	var match []*packngo.Device
	for i := range ds {
		if ds[i].Hostname == hostname && !gone[ds[i].State] {
			match = append(match, &ds[i])
		}
	}
	switch len(match) {
	case 0:
		return nil, fmt.Errorf("%s: %w %s", hostname, ErrNoDevice, t.Project)
	case 1:
	default:
		ids := make([]string, len(match))
		for i, d := range match {
			ids[i] = d.ID
		}
		return nil, fmt.Errorf("%s: %d devices have this hostname (%s); rampart will not guess which to reinstall", hostname, len(match), strings.Join(ids, ", "))
	}
	d := match[0]
	if other := tagValue(d.Tags, TagCluster); other != "" && other != t.Cluster {
		return nil, fmt.Errorf("%s: device %s belongs to cluster %s (tag %s%s), not %s", hostname, d.ID, other, TagCluster, other, t.Cluster)
	}
	return d, nil
}
