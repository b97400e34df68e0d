package model

import (
	"regexp"
	"strings"
	"testing"
)

// IDs are user-visible and kept by scripts: these values must never change.
func TestObjectIDGolden(t *testing.T) {
	for _, tc := range []struct{ name, got, want string }{
		{"default network", NetworkObjectID("shop", DefaultNetwork), "9f99a00f2ac199b0fd0bba17775a9deb1f87f2127c8a63fc91031a0853bdeb99"},
		{"host network", NetworkObjectID("shop", HostNetwork), "9ab2e201cc5cef757bbdf8cf31f5f49c3de3a538395da9b51704a0e2e80bd4d2"},
		{"none network", NetworkObjectID("", NoneNetwork), "9c9f9ac45e1a9914a762957cc5cd34a51e69cbc29c785a1a0b6c7b5ac36b43bd"},
		{"user network", NetworkObjectID("shop", "backend"), "c73f4f886cbbc01fa3f414ec19576ae0f76ee9cb2130288e0eb890c8956f9d63"},
		{"container", ContainerObjectID("shop", "web"), "50fbb728061e7dccbb5cb366ff8be3314420ee1ac1c9220ad06d9e3a6d9fb1e9"},
		{"endpoint", EndpointObjectID(ContainerID("shop", "web"), NetworkID("shop", "backend")), "06ac967d79d27c79e07cd5185535e4797ba991c6563b329e5134e191b0aafe2a"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: ID %s, want %s", tc.name, tc.got, tc.want)
		}
	}
	if got := ShortID(ContainerObjectID("shop", "web")); got != "50fbb728061e" {
		t.Errorf("ShortID = %q, want 50fbb728061e", got)
	}
	if got := ShortID("abc"); got != "abc" {
		t.Errorf("ShortID(abc) = %q", got)
	}
}

// IsLabel is written out by hand for speed; it must accept exactly what
// the RFC 1123 pattern does.
func TestIsLabelMatchesPattern(t *testing.T) {
	re := regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`)
	cases := []string{"", "a", "A", "0", "-", "a-", "-a", "a-b", "a--b", "web_1", "web.1", "wéb", "a b", "a/b", "a:b", "a\x00",
		strings.Repeat("a", 63), strings.Repeat("a", 64), "a" + strings.Repeat("-", 61) + "b", "a" + strings.Repeat("-", 62) + "b"}
	for c := byte(0); c < 128; c++ {
		cases = append(cases, "x"+string(c)+"y", string(c))
	}
	for _, s := range cases {
		if got, want := IsLabel(s), re.MatchString(s); got != want {
			t.Errorf("IsLabel(%q) = %v, the pattern says %v", s, got, want)
		}
	}
}
