package pki

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// Fingerprint is the fingerprint rampart records of a CA certificate: the
// sha256 of its PEM file, in hex.
func Fingerprint(certPEM []byte) string {
	sum := sha256.Sum256(certPEM)
	return hex.EncodeToString(sum[:])
}

// CAFingerprint is the Fingerprint of the state's CA certificate; ErrNoCA
// when there is none.
func (st *State) CAFingerprint() (string, error) {
	data, err := os.ReadFile(st.abs(CACert))
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("%w (%s)", ErrNoCA, st.abs(CACert))
	}
	if err != nil {
		return "", err
	}
	return Fingerprint(data), nil
}

// ReplacedCAs are the fingerprints of the CAs that Rotate replaced in this
// state, oldest first.
func (st *State) ReplacedCAs() ([]string, error) {
	data, err := os.ReadFile(st.abs(CAHistory))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return strings.Fields(string(data)), nil
}
