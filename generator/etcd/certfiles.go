package etcd

import (
	"fmt"
	"path"
	"strings"

	"github.com/rampart-cluster/rampart/generator/boot"
	"github.com/rampart-cluster/rampart/generator/pki"
	"github.com/rampart-cluster/rampart/generator/spec"
)

// ClientFiles are the certificate files of an etcd client of role from
// the state: the CA file (mat.CA: after pki.State.Trusting, the bundle the
// machines trust now, both CAs during a rolling rotation) and the role's
// client certificate, and its key, which only the final userdata carries.
func ClientFiles(mat *pki.Material, role string) (public, secret []boot.File, err error) {
	client, ok := mat.Clients[role]
	if !ok {
		return nil, nil, fmt.Errorf("the state has no client certificate for role %s", role)
	}
	public = []boot.File{
		{Path: CAFile, Mode: pki.CertMode, Contents: string(mat.CA)},
		{Path: ClientCert, Mode: pki.CertMode, Contents: string(client.Cert)},
	}
	secret = []boot.File{{Path: ClientKey, Mode: pki.KeyMode, Contents: string(client.Key)}}
	return public, secret, nil
}

// MemberFiles are the certificate files of member n from the state (its
// server and peer pair, and its role's client pair): the public ones, and
// the keys, which only the final userdata carries.
func MemberFiles(mat *pki.Material, n *spec.Node) (public, secret []boot.File, err error) {
	member, ok := mat.Members[n.Name]
	if !ok {
		return nil, nil, fmt.Errorf("the state has no certificate for etcd member %s", n.Name)
	}
	if public, secret, err = ClientFiles(mat, n.Role); err != nil {
		return nil, nil, err
	}
	public = append(public, boot.File{Path: CertFile, Mode: pki.CertMode, Contents: string(member.Cert)})
	secret = append(secret, boot.File{Path: KeyFile, Mode: pki.KeyMode, Contents: string(member.Key)})
	return public, secret, nil
}

// keyCert names the certificate of each key file on the node.
var keyCert = map[string]string{
	ClientKey: ClientCert,
	KeyFile:   CertFile,
}

// CertOf returns the certificate file on the node of a key file: the
// member's and the client's as MemberFiles and ClientFiles write them, and
// for any other key the file of the same name ending in .crt.
func CertOf(key string) string {
	if c, ok := keyCert[key]; ok {
		return c
	}
	return strings.TrimSuffix(key, path.Ext(key)) + ".crt"
}
