package aws

// Helpers of the calls to AWS that launch templates and S3 objects share:
// idempotency tokens and API error codes.

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"slices"

	"github.com/aws/smithy-go"
)

// clientToken is a fresh idempotency token for one create call.
func clientToken() string {
	b := make([]byte, 16)
	rand.Read(b) // never fails (crypto/rand)
	return hex.EncodeToString(b)
}

func isCode(err error, codes ...string) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && slices.Contains(codes, ae.ErrorCode())
}
