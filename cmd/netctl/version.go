package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Set by the Makefile: -ldflags "-X main.version=... -X main.commit=...".
// Builds without them (go install, go build) fall back to the build info
// Go records: the module version and the VCS revision.
var (
	version = ""
	commit  = ""
)

// buildVersion is the version and commit netctl was built from: the
// Makefile's, else what Go recorded ("dev" and "unknown" when neither says).
func buildVersion() (v, c string) {
	v, c = version, commit
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
		if c == "" {
			var rev, dirty string
			for _, s := range bi.Settings {
				switch s.Key {
				case "vcs.revision":
					rev = s.Value
				case "vcs.modified":
					if s.Value == "true" {
						dirty = "-dirty"
					}
				}
			}
			if rev != "" {
				c = rev + dirty
			}
		}
	}
	if v == "" {
		v = "dev"
	}
	if c == "" {
		c = "unknown"
	}
	return v, c
}

// versionString is what --version prints:
// "v1.2.0, commit 0ee58af3c1d2, go1.26.8 linux/amd64".
func versionString() string {
	v, c := buildVersion()
	return fmt.Sprintf("%s, commit %s, %s %s/%s", v, c, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
