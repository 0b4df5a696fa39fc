package nn

import (
	"bytes"
	"encoding/json"
)

// strictUnmarshal decodes JSON rejecting unknown fields, so a misspelt
// configuration key is an error rather than a silently ignored setting.
func strictUnmarshal(raw []byte, v any) error {
	if len(raw) == 0 {
		raw = []byte("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}
