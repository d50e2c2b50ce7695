package mototest

import (
	"context"
	"strings"
	"sync"

	"github.com/aws/smithy-go/middleware"
)

// Calls counts the API calls a client makes, by operation name, once per
// call whatever its retries. Give Option to the client as an API option.
type Calls struct {
	mu  sync.Mutex
	ops []string
}

// Option adds the counting middleware to a client's stack.
func (c *Calls) Option(stack *middleware.Stack) error {
	return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("rampart-count", func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
		c.mu.Lock()
		c.ops = append(c.ops, middleware.GetOperationName(ctx))
		c.mu.Unlock()
		return next.HandleInitialize(ctx, in)
	}), middleware.After)
}

// All lists every call since the last Reset.
func (c *Calls) All() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.ops...)
}

// Mutating lists the calls since the last Reset that change something:
// all but reads (Describe*, Get*, Head*, List*).
func (c *Calls) Mutating() []string {
	var out []string
	for _, op := range c.All() {
		if !strings.HasPrefix(op, "Describe") && !strings.HasPrefix(op, "Get") && !strings.HasPrefix(op, "Head") && !strings.HasPrefix(op, "List") {
			out = append(out, op)
		}
	}
	return out
}

// Reset forgets the calls counted so far.
func (c *Calls) Reset() {
	c.mu.Lock()
	c.ops = nil
	c.mu.Unlock()
}
