package packetfake

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// SDKModule is the module that ships the Metal OpenAPI spec the fake checks
// every request and response against; its version is the one go.mod requires.
const SDKModule = "github.com/equinix/equinix-sdk-go"

// specPath is the spec's entry point inside the module.
const specPath = "spec/services/metalv1/oas3.fetched/openapi3.yaml"

// BasePath is where the Metal API is served, on the real endpoint
// (https://api.equinix.com/metal/v1) and on the fake alike.
const BasePath = "/metal/v1"

// Contract is the loaded Metal OpenAPI document with a router over it.
type Contract struct {
	Doc    *openapi3.T    // the parsed spec, external $refs resolved
	Router routers.Router // finds the operation of a request under BasePath, on any host
	File   string         // the openapi3.yaml it was loaded from
}

var (
	contractOnce sync.Once
	contract     *Contract
	contractErr  error
)

// LoadContract loads the Metal OpenAPI spec from the equinix-sdk-go module
// that go.mod requires (downloading it into the module cache when it is not
// there yet), resolves its external $refs and builds a router that matches
// paths under BasePath on any host. It is loaded once per process.
func LoadContract() (*Contract, error) {
	contractOnce.Do(func() {
		contract, contractErr = loadContract()
	})
	return contract, contractErr
}

func loadContract() (*Contract, error) {
	dir, err := moduleDir(SDKModule)
	if err != nil {
		return nil, err
	}
	file := filepath.Join(dir, filepath.FromSlash(specPath))
	// kin-openapi checks the "uuid" format only when told to; device and
	// project ids are uuids in every path of the device operations.
	openapi3.DefineStringFormatValidator("uuid", openapi3.NewRegexpFormatValidator(openapi3.FormatOfStringForUUIDOfRFC4122))
	loader := openapi3.NewLoader()
	loader.IsExternalRefsAllowed = true
	doc, err := loader.LoadFromFile(file)
	if err != nil {
		return nil, fmt.Errorf("loading the Metal OpenAPI spec %s: %w", file, err)
	}
	// The document itself has defects in parts the device operations do not
	// use: an ECMAScript look-ahead pattern Go's regexp cannot compile
	// (BgpConfigRequestInput) and fields beside $ref (capacity, firmware-set,
	// health-rollup and BGP dynamic neighbour schemas). Those are tolerated
	// by name; anything else wrong with the document fails the load.
	if err := doc.Validate(context.Background(),
		openapi3.DisableExamplesValidation(),
		openapi3.DisableSchemaPatternValidation(),
		openapi3.AllowExtraSiblingFields("available_servers", "operation", "properties", "type"),
		openapi3.EnableMultiError()); err != nil {
		return nil, fmt.Errorf("the Metal OpenAPI spec %s is not valid OpenAPI: %w", file, err)
	}
	// The spec names https://api.equinix.com/metal/v1; the fake listens on
	// loopback, so routes match the base path on any host.
	doc.Servers = openapi3.Servers{{URL: BasePath}}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("routing the Metal OpenAPI spec: %w", err)
	}
	return &Contract{Doc: doc, Router: router, File: file}, nil
}

// moduleDir finds a required module's directory with the go command, the
// way CI finds it: `go mod download -json` fetches it if it is missing and
// prints where it is.
func moduleDir(path string) (string, error) {
	cmd := exec.Command("go", "mod", "download", "-json", path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go mod download %s: %v: %s", path, err, bytes.TrimSpace(stderr.Bytes()))
	}
	var m struct {
		Dir   string
		Error string
	}
	if err := json.Unmarshal(out, &m); err != nil {
		return "", fmt.Errorf("go mod download %s: %w", path, err)
	}
	if m.Error != "" {
		return "", fmt.Errorf("go mod download %s: %s", path, m.Error)
	}
	if m.Dir == "" {
		return "", errors.New("go mod download " + path + ": no directory in its answer")
	}
	if _, err := os.Stat(m.Dir); err != nil {
		return "", err
	}
	return m.Dir, nil
}
