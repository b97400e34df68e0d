// Package schemacheck validates topology files against the JSON Schema
// (spec/schema) as an editor would, for tests. It is apart from the schema
// so that the binary does not link the validator: its package init alone
// (compiling the meta-schemas) costs ~60 ms, at every netctl start.
package schemacheck

import (
	"bytes"
	"encoding/json"
	"fmt"

	sj "github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"

	"github.com/netctl/netctl/spec/schema"
)

// Validator checks topology files against the schema, as an editor would.
type Validator struct {
	sch *sj.Schema
}

// NewValidator compiles the schema, with formats (ipv4, ipv6) asserted.
func NewValidator() (*Validator, error) {
	b, err := schema.JSON()
	if err != nil {
		return nil, err
	}
	doc, err := sj.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	c := sj.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource(schema.ID, doc); err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	sch, err := c.Compile(schema.ID)
	if err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	return &Validator{sch: sch}, nil
}

// ValidateYAML checks a topology file's YAML text. Anchors, aliases and
// merge keys are resolved first, as the YAML language server does.
func (v *Validator) ValidateYAML(data []byte) error {
	var doc any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return err
	}
	// YAML's values become JSON's (numbers as json.Number) through one
	// encoding round trip.
	b, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	inst, err := sj.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		return err
	}
	return v.sch.Validate(inst)
}
