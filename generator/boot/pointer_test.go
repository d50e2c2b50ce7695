package boot

import (
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"testing"
)

// TestPointerConfig: for every supported target, the pointer replaces the
// config with the source, verified by the full config's sha512, and has
// the Ignition version of the full config.
func TestPointerConfig(t *testing.T) {
	full := []byte(`{"ignition":{"version":"3.3.0"}}` + "\n")
	sum := sha512.Sum512(full)
	for target, version := range IgnitionVersion {
		ptr, err := PointerConfig(target, "s3://bucket/c/t/0123.ign", full)
		if err != nil {
			t.Fatalf("%v: %v", target, err)
		}
		var doc struct {
			Ignition struct {
				Version string
				Config  struct {
					Replace struct {
						Source       string
						Verification struct{ Hash string }
					}
				}
			}
		}
		if err := json.Unmarshal(ptr, &doc); err != nil {
			t.Fatalf("%v: %v\n%s", target, err, ptr)
		}
		r := doc.Ignition.Config.Replace
		if doc.Ignition.Version != version || r.Source != "s3://bucket/c/t/0123.ign" || r.Verification.Hash != "sha512-"+hex.EncodeToString(sum[:]) {
			t.Errorf("%v: version %s (want %s), replace %+v", target, doc.Ignition.Version, version, r)
		}
	}
	if _, err := PointerConfig(Target{Variant: "flatcar", Version: "9.9.9"}, "s3://b/k", full); err == nil {
		t.Error("a pointer for an unsupported target was made")
	}
}
