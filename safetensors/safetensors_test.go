package safetensors

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	in := &File{Metadata: map[string]string{"k": "v"}, Tensors: []Tensor{
		{Name: "a", Shape: []int{2, 3}, Data: []float32{1, 2, 3, 4, 5, 6}},
		{Name: "b", Shape: []int{}, Data: []float32{-1.5}},
	}}
	path := filepath.Join(t.TempDir(), "x.safetensors")
	if err := Write(path, in); err != nil {
		t.Fatal(err)
	}
	out, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if out.Metadata["k"] != "v" || len(out.Tensors) != 2 {
		t.Fatalf("got %+v", out)
	}
	a := out.Get("a")
	if a == nil || a.Data[5] != 6 || a.Shape[1] != 3 || out.Get("b").Data[0] != -1.5 {
		t.Fatalf("bad tensors %+v", out.Tensors)
	}
}

// A file laid out by hand, as another implementation would write it.
func TestDecodeHandMade(t *testing.T) {
	header := `{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, uint64(len(header)))
	b.WriteString(header)
	binary.Write(&b, binary.LittleEndian, []float32{0.25, -2})
	f, err := Decode(b.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if w := f.Get("w"); w.Data[0] != 0.25 || w.Data[1] != -2 {
		t.Fatalf("got %v", w.Data)
	}
}

func TestErrors(t *testing.T) {
	var good bytes.Buffer
	Encode(&good, &File{Tensors: []Tensor{{Name: "a", Shape: []int{4}, Data: []float32{1, 2, 3, 4}}}})
	cases := map[string][]byte{
		"shorter than":   good.Bytes()[:5],
		"truncated":      good.Bytes()[:good.Len()-3],
		"not valid JSON": append(append([]byte{4, 0, 0, 0, 0, 0, 0, 0}, "{{{{"...), 0),
		"only F32":       []byte(strings.Replace(good.String(), "F32", "F64", 1)),
	}
	for want, b := range cases {
		if _, err := Decode(b); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("want error containing %q, got %v", want, err)
		}
	}
	if _, err := Read(filepath.Join(t.TempDir(), "missing")); !os.IsNotExist(err) {
		t.Errorf("missing file: %v", err)
	}
}
