// Package onnxpb holds the Go types of the ONNX protobuf schema (onnx.proto
// of the ONNX project, IR version 8, as shipped in Debian's libonnx-dev),
// generated with protoc and protoc-gen-go. Package onnx converts between
// these messages and evoprune's model graphs.
package onnxpb

// Regenerate onnx.pb.go (needs protoc, e.g. Debian's protobuf-compiler, and
// protoc-gen-go at the version go.mod pins for google.golang.org/protobuf:
// go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12).
//go:generate protoc --go_out=. --go_opt=paths=source_relative --go_opt=Monnx.proto=github.com/evoprune/evoprune/onnx/onnxpb onnx.proto
