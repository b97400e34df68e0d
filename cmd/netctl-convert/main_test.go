package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/netctl/netctl/spec"
)

func TestRun(t *testing.T) {
	var out, errs bytes.Buffer
	code := run(context.Background(), []string{"-f", "../../examples/compose/ports.yaml", "--profile", "x", "-p", "shop"}, &out, &errs)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs.String())
	}
	top, err := spec.Parse("out.yaml", out.Bytes())
	if err != nil || top.Name != "shop" {
		t.Fatalf("%v %v\n%s", top, err, out.String())
	}
	if !strings.Contains(errs.String(), "services.{api,db,httpd,mysql}.image: not converted") {
		t.Errorf("stderr: %s", errs.String())
	}
	if code := run(context.Background(), nil, &out, &errs); code != 1 {
		t.Errorf("without -f: exit %d", code)
	}
	if code := run(context.Background(), []string{"-f", "/nonexistent.yaml"}, &out, &errs); code != 1 || !strings.Contains(errs.String(), "nonexistent") {
		t.Errorf("missing file: exit %d: %s", code, errs.String())
	}
}
