package main

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// filters is `--filter key=value`, repeatable, with Docker's semantics:
// several values of one key are alternatives, different keys must all
// match.
type filters map[string][]string

// parseFilters reads --filter arguments, refusing keys the command does
// not know (Docker: "invalid filter 'x'") and name patterns that are not
// regular expressions.
func parseFilters(args []string, allowed ...string) (filters, error) {
	f := filters{}
	for _, arg := range args {
		key, value, ok := strings.Cut(arg, "=")
		key = strings.ToLower(strings.TrimSpace(key))
		if !ok || key == "" {
			return nil, fmt.Errorf("bad format of filter %q (expected name=value)", arg)
		}
		if !slices.Contains(allowed, key) {
			return nil, fmt.Errorf("invalid filter '%s' (known: %s)", key, strings.Join(allowed, ", "))
		}
		if key == "name" {
			if _, err := regexp.Compile(value); err != nil {
				return nil, fmt.Errorf("invalid filter 'name=%s': %w", value, err)
			}
		}
		f[key] = append(f[key], value)
	}
	return f, nil
}

// match reports whether key is not filtered on, or one of its values
// satisfies ok.
func (f filters) match(key string, ok func(value string) bool) bool {
	values, set := f[key]
	if !set {
		return true
	}
	return slices.ContainsFunc(values, ok)
}

// name matches Docker's name filter: an unanchored regular expression.
func (f filters) name(name string) bool {
	return f.match("name", func(v string) bool { return regexp.MustCompile(v).MatchString(name) })
}

// id matches an ID by prefix.
func (f filters) id(id string) bool {
	return f.match("id", func(v string) bool { return v != "" && strings.HasPrefix(id, v) })
}

// label matches "key" (present) or "key=value" (equal).
func (f filters) label(labels map[string]string) bool {
	return f.match("label", func(v string) bool {
		k, want, hasValue := strings.Cut(v, "=")
		got, present := labels[k]
		return present && (!hasValue || got == want)
	})
}

// exact matches one of the values exactly.
func (f filters) exact(key, s string) bool {
	return f.match(key, func(v string) bool { return v == s })
}
