package boot

import (
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"strconv"
)

// PointerConfig is the Ignition config that stands in for config where
// userdata cannot carry it (too large, or holding keys that belong in a
// private bucket): it replaces itself (ignition.config.replace) with the
// config fetched from source, verified by config's sha512, so a changed or
// truncated object is refused at boot. It is a Butane document for t
// translated by the butane library, so its Ignition version is that of the
// full config gen made for t.
func PointerConfig(t Target, source string, config []byte) ([]byte, error) {
	sum := sha512.Sum512(config)
	doc := fmt.Sprintf(`variant: %s
version: %s
ignition:
  config:
    replace:
      source: %s
      verification:
        hash: sha512-%s
`, t.Variant, t.Version, strconv.Quote(source), hex.EncodeToString(sum[:]))
	ign, err := Ignition(doc, t)
	if err != nil {
		return nil, fmt.Errorf("the pointer config: %w", err)
	}
	return ign, nil
}
