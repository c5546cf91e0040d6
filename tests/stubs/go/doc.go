// Package stubs holds the Go module that the generated Go stubs (buf generate, see
// proto/buf.gen.yaml) are compiled in by `python -m tools.stubs`: its go.mod and go.sum pin
// the runtime libraries the generated code needs. The stubs themselves are not committed.
package stubs
