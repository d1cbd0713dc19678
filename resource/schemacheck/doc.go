// Package schemacheck finds the parts of a JSON Schema that clients with a
// single-type schema dialect reject or mishandle: a "type" that is a list
// (["null", "array"], as Go pointer and nil-slice fields infer), a schema
// with no "type", and a "$ref" that leaves the document or leads nowhere.
// MCP Inspector flags tools whose schemas have them, and function-calling
// APIs that map tool schemas to their own dialect (Gemini's function
// declarations, for one) may refuse the tool.
//
// The weather server's tests run every tool schema through Problems; the
// gateway logs its findings for an upstream server's tools as warnings.
//
// It imports only the standard library and serves no routes.
package schemacheck
