package schemacheck

import (
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// maxDepth bounds the walk, so that an upstream schema nested without end
// cannot exhaust the stack.
const maxDepth = 64

// Problems returns one line per problem found in schema, each starting
// with the JSON Pointer of the subschema it is about ("#" for the root,
// "#/properties/periods/items" further down), in document order; nil when
// there are none. schema may be a JSON document ([]byte,
// json.RawMessage or string) or any value that marshals to one, such as
// a *jsonschema.Schema or a map[string]any from a tools/list answer.
//
// Every subschema reached through a schema keyword (properties, items,
// anyOf, $defs, ...) is checked:
//   - "type" must be one string, not a list;
//   - "type" must be present, except beside a "$ref", where the target
//     is checked instead;
//   - "$ref" must point into the same document ("#...") and resolve.
func Problems(schema any) []string {
	doc, err := decode(schema)
	if err != nil {
		return []string{"#: not a JSON Schema: " + err.Error()}
	}
	w := walker{root: doc}
	w.node(doc, "#", 0)
	return w.problems
}

func decode(schema any) (any, error) {
	var raw []byte
	switch v := schema.(type) {
	case []byte:
		raw = v
	case json.RawMessage:
		raw = v
	case string:
		raw = []byte(v)
	default:
		b, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		raw = b
	}
	var doc any
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, err
	}
	return doc, nil
}

type walker struct {
	root     any
	problems []string
}

func (w *walker) add(path, format string, args ...any) {
	w.problems = append(w.problems, path+": "+fmt.Sprintf(format, args...))
}

// Keywords whose value is one subschema, a list of them, or a map of them
// (JSON Schema 2020-12 with the draft-07 spellings).
var (
	oneSchema = []string{"additionalProperties", "unevaluatedProperties", "propertyNames", "contains",
		"not", "if", "then", "else", "unevaluatedItems", "additionalItems"}
	schemaLists = []string{"allOf", "anyOf", "oneOf", "prefixItems"}
	schemaMaps  = []string{"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"}
)

func (w *walker) node(n any, path string, depth int) {
	if depth > maxDepth {
		w.add(path, "nested more than %d levels deep; not checked further", maxDepth)
		return
	}
	s, ok := n.(map[string]any)
	if !ok {
		if _, isBool := n.(bool); isBool {
			w.add(path, "a boolean schema has no type; give an object schema with one type")
		} else {
			w.add(path, "a schema must be an object, got %s", kind(n))
		}
		return
	}
	ref, hasRef := s["$ref"]
	if hasRef {
		w.ref(ref, path)
	}
	switch t := s["type"].(type) {
	case string:
	case []any:
		var names []string
		for _, x := range t {
			b, _ := json.Marshal(x)
			names = append(names, string(b))
		}
		w.add(path, "type is a list [%s]; use one type (leave a field out instead of null)", strings.Join(names, ", "))
	case nil:
		if _, present := s["type"]; present {
			w.add(path, "type is null; use one type")
		} else if !hasRef {
			w.add(path, "no type")
		}
	default:
		w.add(path, "type must be a string, got %s", kind(t))
	}

	// Keywords in a fixed order, so reports are stable.
	for _, k := range oneSchema {
		if v, ok := s[k]; ok {
			if _, isBool := v.(bool); isBool && (k == "additionalProperties" || k == "unevaluatedProperties" || k == "additionalItems" || k == "unevaluatedItems") {
				continue // true/false here is a switch, not a schema to type
			}
			w.node(v, path+"/"+escape(k), depth+1)
		}
	}
	if v, ok := s["items"]; ok {
		if list, isList := v.([]any); isList { // draft-07 tuple form
			for i, x := range list {
				w.node(x, path+"/items/"+strconv.Itoa(i), depth+1)
			}
		} else if _, isBool := v.(bool); !isBool {
			w.node(v, path+"/items", depth+1)
		}
	}
	for _, k := range schemaLists {
		if v, ok := s[k]; ok {
			list, isList := v.([]any)
			if !isList {
				w.add(path+"/"+k, "must be a list of schemas, got %s", kind(v))
				continue
			}
			for i, x := range list {
				w.node(x, path+"/"+k+"/"+strconv.Itoa(i), depth+1)
			}
		}
	}
	for _, k := range schemaMaps {
		if v, ok := s[k]; ok {
			m, isMap := v.(map[string]any)
			if !isMap {
				w.add(path+"/"+k, "must be an object of schemas, got %s", kind(v))
				continue
			}
			names := make([]string, 0, len(m))
			for name := range m {
				names = append(names, name)
			}
			sort.Strings(names)
			for _, name := range names {
				w.node(m[name], path+"/"+k+"/"+escape(name), depth+1)
			}
		}
	}
}

// ref checks that a $ref points into this document and resolves there.
func (w *walker) ref(ref any, path string) {
	r, ok := ref.(string)
	if !ok {
		w.add(path, "$ref must be a string, got %s", kind(ref))
		return
	}
	if !strings.HasPrefix(r, "#") {
		w.add(path, "$ref %q points outside the document; clients will not fetch it", r)
		return
	}
	if _, ok := resolve(w.root, r); !ok {
		w.add(path, "$ref %q does not resolve in the document", r)
	}
}

// resolve follows a "#/a/b" JSON Pointer (RFC 6901, in a URI fragment).
func resolve(root any, ref string) (any, bool) {
	frag, err := url.PathUnescape(strings.TrimPrefix(ref, "#"))
	if err != nil {
		return nil, false
	}
	if frag == "" {
		return root, true
	}
	if !strings.HasPrefix(frag, "/") {
		return nil, false // a plain-name anchor; not supported by single-type clients either
	}
	cur := root
	for _, tok := range strings.Split(frag[1:], "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch c := cur.(type) {
		case map[string]any:
			v, ok := c[tok]
			if !ok {
				return nil, false
			}
			cur = v
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(c) {
				return nil, false
			}
			cur = c[i]
		default:
			return nil, false
		}
	}
	return cur, true
}

// escape writes a JSON Pointer token (RFC 6901 §3).
func escape(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

func kind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case float64:
		return "a number"
	case string:
		return "a string"
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}
