package main

import (
	"path/filepath"

	"github.com/netctl/netctl/actuators/files"
)

// warnOrphans warns, as Compose does about orphan containers, when other
// projects of this root were last applied from the same file: the file's
// `name:` was edited, and the old project is still wired.
func (a *app) warnOrphans(file, project string) {
	abs, ok := sourceFile(file)
	if !ok {
		return
	}
	for _, old := range files.New(a.root).AppliedFrom(abs, project) {
		a.log.Warn().Str("project", old).Str("file", abs).
			Msgf("Found orphan project %s, last applied from this file. If you renamed the project in it, remove the old one with: netctl down -p %s", old, old)
	}
}

// recordSource remembers which file project was applied from.
func (a *app) recordSource(file, project string) {
	if abs, ok := sourceFile(file); ok {
		if err := files.New(a.root).RecordSource(project, abs); err != nil {
			a.log.Debug().Err(err).Msg("record the project's file")
		}
	}
}

func sourceFile(file string) (string, bool) {
	if file == "" || file == "-" {
		return "", false
	}
	abs, err := filepath.Abs(file)
	return abs, err == nil
}
