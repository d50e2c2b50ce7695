package etcd

import (
	"fmt"
	"strconv"

	"github.com/rampart-cluster/rampart/generator/boot"
	"github.com/rampart-cluster/rampart/generator/spec"
)

// Units are the units of member n: the drop-in of Unit with its
// environment (Env, in the given initial cluster state) and, on Fedora
// CoreOS, the unit that runs the etcd container (of ImageOf). On Flatcar
// the drop-in also names etcd.image to the etcd-member wrapper, when the
// spec gives one.
func Units(s *spec.Spec, n *spec.Node, state string) ([]boot.Unit, error) {
	image, err := ImageOf(s)
	if err != nil {
		return nil, err
	}
	vars := Env(s, n, state)
	if s.OS.Variant == "flatcar" {
		imageVars, err := flatcarImageEnv(s)
		if err != nil {
			return nil, err
		}
		vars = append(vars, imageVars...)
	}
	var env []string
	for _, v := range vars {
		env = append(env, strconv.Quote(v.Name+"="+v.Value))
	}
	tmplVars := map[string]any{
		"Name": n.Name, "Cluster": s.Cluster, "Variant": s.OS.Variant, "Env": env,
		"CertDir": CertDir, "KeyFile": KeyFile, "DataDir": DataDir,
		"Image": image, "ImageGiven": s.Etcd.Image != "", "State": state,
	}
	dropin, err := boot.RenderUnit("etcd-member-dropin.conf.tmpl", tmplVars)
	if err != nil {
		return nil, err
	}
	u := boot.Unit{Name: Unit, Enabled: true, Dropins: []boot.Dropin{{Name: Dropin, Contents: dropin}}}
	if s.OS.Variant == "fcos" {
		if u.Contents, err = boot.RenderUnit("etcd-member.service.tmpl", tmplVars); err != nil {
			return nil, err
		}
	}
	return []boot.Unit{u}, nil
}

// ClientSettings are the public files of a machine of a role with
// etcd_client: the environment file (ClientEnvFile) and the profile script
// (ClientProfile), both with ClientEnv.
func ClientSettings(s *spec.Spec, role string) []boot.File {
	env := fmt.Sprintf("# rampart: etcd client settings of role %s of cluster %s: the cluster's etcd\n"+
		"# members over TLS, with the client certificate. For a systemd unit:\n"+
		"# EnvironmentFile=%s\n", role, s.Cluster, ClientEnvFile)
	profile := fmt.Sprintf("# rampart: etcdctl in login shells talks to the etcd of cluster %s (%s).\n", s.Cluster, ClientEnvFile)
	for _, v := range ClientEnv(s) {
		env += v.Name + "=" + v.Value + "\n"
		profile += "export " + v.Name + "='" + v.Value + "'\n"
	}
	return []boot.File{
		{Path: ClientEnvFile, Mode: 0o644, Contents: env},
		{Path: ClientProfile, Mode: 0o644, Contents: profile},
	}
}
