package spec

import "github.com/netctl/netctl/spec/internal/yamlwalk"

// Error is one problem in a topology file: its Error method renders
// "file:line:column: message". The walker that reads the file and the
// checks that relate values to each other report through one collector,
// so every problem has this one form.
type Error = yamlwalk.Error

// Errors is every problem found in a topology file, sorted by position,
// one a line when rendered.
type Errors = yamlwalk.Errors
