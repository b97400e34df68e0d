package main

import (
	"bytes"
	"io"
)

// ANSI colours of plan lines, as Terraform and kubectl diff use them.
const (
	ansiReset  = "\033[0m"
	ansiGreen  = "\033[32m"
	ansiYellow = "\033[33m"
	ansiRed    = "\033[31m"
)

// colorLines colours a plan's action lines by their first character:
// "+ " green (create), "~ " yellow (update), "- " and "! " red (delete,
// blocked). Other lines (details, the summary) pass unchanged.
type colorLines struct {
	w       io.Writer
	partial []byte
	err     error
}

func (c *colorLines) Write(p []byte) (int, error) {
	c.partial = append(c.partial, p...)
	for {
		i := bytes.IndexByte(c.partial, '\n')
		if i < 0 {
			break
		}
		c.writeLine(c.partial[:i+1])
		c.partial = c.partial[i+1:]
	}
	return len(p), c.err
}

func (c *colorLines) writeLine(line []byte) {
	if c.err != nil {
		return
	}
	color := ""
	if len(line) > 1 && line[1] == ' ' {
		switch line[0] {
		case '+':
			color = ansiGreen
		case '~':
			color = ansiYellow
		case '-', '!':
			color = ansiRed
		}
	}
	if color == "" {
		_, c.err = c.w.Write(line)
		return
	}
	body := bytes.TrimSuffix(line, []byte("\n"))
	_, c.err = io.WriteString(c.w, color+string(body)+ansiReset+"\n")
}

// flush writes a last line that has no newline.
func (c *colorLines) flush() {
	if len(c.partial) > 0 {
		c.writeLine(c.partial)
		c.partial = nil
	}
}
