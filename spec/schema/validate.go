package schema

import (
	"bytes"
	"encoding/json"
	"fmt"

	sj "github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"
)

// Validator checks topology files against the schema, as an editor would.
type Validator struct {
	sch *sj.Schema
}

// NewValidator compiles the schema, with formats (ipv4, ipv6) asserted.
func NewValidator() (*Validator, error) {
	b, err := JSON()
	if err != nil {
		return nil, err
	}
	doc, err := sj.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	c := sj.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource(ID, doc); err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	sch, err := c.Compile(ID)
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
