package schemacheck

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestProblems(t *testing.T) {
	tests := []struct {
		name   string
		schema string
		want   []string
	}{
		{"single-typed object", `{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"array","items":{"type":"number"}}},"additionalProperties":false}`, nil},
		{"type list from a Go pointer", `{"type":"object","properties":{"low":{"type":["null","number"]}}}`,
			[]string{`#/properties/low: type is a list ["null", "number"]; use one type (leave a field out instead of null)`}},
		{"type list at the root", `{"type":["object","null"]}`,
			[]string{`#: type is a list ["object", "null"]; use one type (leave a field out instead of null)`}},
		{"missing type deep in items", `{"type":"object","properties":{"xs":{"type":"array","items":{"description":"x"}}}}`,
			[]string{"#/properties/xs/items: no type"}},
		{"empty schema", `{}`, []string{"#: no type"}},
		{"null type", `{"type":null}`, []string{"#: type is null; use one type"}},
		{"numeric type", `{"type":3}`, []string{"#: type must be a string, got a number"}},
		{"local $ref resolves", `{"type":"object","properties":{"p":{"$ref":"#/$defs/P"}},"$defs":{"P":{"type":"string"}}}`, nil},
		{"local $ref dangles", `{"type":"object","properties":{"p":{"$ref":"#/$defs/Q"}}}`,
			[]string{`#/properties/p: $ref "#/$defs/Q" does not resolve in the document`}},
		{"remote $ref", `{"type":"object","properties":{"p":{"$ref":"https://example.com/p.json"}}}`,
			[]string{`#/properties/p: $ref "https://example.com/p.json" points outside the document; clients will not fetch it`}},
		{"relative $ref", `{"$ref":"other.json#/x"}`,
			[]string{`#: $ref "other.json#/x" points outside the document; clients will not fetch it`}},
		{"$ref to the root", `{"type":"object","properties":{"self":{"$ref":"#"}}}`, nil},
		{"escaped pointer", `{"type":"object","properties":{"a/b":{"type":"string"},"c":{"$ref":"#/properties/a~1b"}}}`, nil},
		{"anyOf branches are checked", `{"type":"object","properties":{"v":{"anyOf":[{"type":"string"},{"type":["null","integer"]}]}}}`,
			[]string{"#/properties/v: no type", `#/properties/v/anyOf/1: type is a list ["null", "integer"]; use one type (leave a field out instead of null)`}},
		{"boolean property schema", `{"type":"object","properties":{"any":true}}`,
			[]string{"#/properties/any: a boolean schema has no type; give an object schema with one type"}},
		{"tuple items", `{"type":"array","items":[{"type":"string"},{}]}`, []string{"#/items/1: no type"}},
		{"properties not an object", `{"type":"object","properties":[1]}`, []string{"#/properties: must be an object of schemas, got a list"}},
		{"not JSON", `{`, []string{"#: not a JSON Schema: unexpected end of JSON input"}},
		{"not an object", `[]`, []string{"#: a schema must be an object, got a list"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, Problems(tc.schema)); diff != "" {
				t.Errorf("Problems(%s) (-want +got):\n%s", tc.schema, diff)
			}
		})
	}
}

// TestProblemsOfValues passes decoded values, as a tools/list answer or a
// schema type gives them.
func TestProblemsOfValues(t *testing.T) {
	m := map[string]any{"type": "object", "properties": map[string]any{"x": map[string]any{"type": []string{"null", "array"}}}}
	if got := Problems(m); len(got) != 1 || !strings.HasPrefix(got[0], "#/properties/x: type is a list") {
		t.Errorf("Problems(map) = %q, want one type-list problem", got)
	}
	if got := Problems(func() {}); len(got) != 1 || !strings.HasPrefix(got[0], "#: not a JSON Schema") {
		t.Errorf("Problems(func) = %q, want one not-a-schema problem", got)
	}
}

// TestProblemsDepth checks that a schema nested without end stops the
// walk with one problem instead of exhausting the stack.
func TestProblemsDepth(t *testing.T) {
	s := strings.Repeat(`{"type":"array","items":`, 200) + `{"type":"string"}` + strings.Repeat(`}`, 200)
	got := Problems(s)
	if len(got) != 1 || !strings.Contains(got[0], "nested more than 64 levels deep") {
		t.Errorf("Problems(deep) = %q, want one depth problem", got)
	}
}

// FuzzProblems walks arbitrary documents: never a panic, and every
// problem names a JSON Pointer.
func FuzzProblems(f *testing.F) {
	for _, s := range []string{`{"type":["null","array"]}`, `{"$ref":"#/a/0"}`, `{"items":[true,{}]}`, `{"$ref":"#%zz"}`, `{"properties":{"~":{"$ref":"#/properties/~0"}}}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, p := range Problems(s) {
			if !strings.HasPrefix(p, "#") {
				t.Fatalf("problem %q does not start with a JSON Pointer", p)
			}
		}
	})
}
