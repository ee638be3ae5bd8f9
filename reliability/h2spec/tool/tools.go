//go:build tools

// Package tool only pins h2spec's command as a dependency of this module (see go.mod).
package tool

import _ "github.com/summerwind/h2spec/cmd/h2spec"
