package reconciler

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// apply -o json: the plan's schema plus how the apply went, and an error
// object when it did not converge.
func TestWriteApplyJSON(t *testing.T) {
	h := newHarness()
	p := h.plan(t, parse(t, "shop.yaml", "containers:\n  web: {}\n"))
	var b strings.Builder
	err := p.WriteApplyJSON(&b, ApplyInfo{Rounds: 2, Elapsed: 1500 * time.Microsecond,
		Err: &JSONError{Message: "boom", Problems: []JSONProblem{}}})
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		FormatVersion string `json:"format_version"`
		Summary       map[string]int
		Changes       int
		Apply         struct {
			Rounds    int
			ElapsedMS float64 `json:"elapsed_ms"`
			Converged bool
		}
		Error   *struct{ Message string }
		Actions []struct {
			Object    struct{ Kind, Project, Name, ID string }
			Operation string
			Before    map[string]any
			After     map[string]any
			Changed   []string
		}
	}
	if err := json.Unmarshal([]byte(b.String()), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.FormatVersion != PlanFormatVersion || doc.Apply.Rounds != 2 || doc.Apply.ElapsedMS != 1.5 || doc.Apply.Converged ||
		doc.Error == nil || doc.Error.Message != "boom" || doc.Changes != len(doc.Actions) || doc.Summary["create"] != doc.Changes {
		t.Errorf("document:\n%s", b.String())
	}
	for _, a := range doc.Actions {
		if a.Operation != "create" || a.Before != nil || a.After == nil || len(a.Changed) != 0 || a.Object.Project != "shop" && a.Object.Kind != "network" {
			t.Errorf("create action: %+v", a)
		}
	}
}
