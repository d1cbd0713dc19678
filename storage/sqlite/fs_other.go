//go:build !linux

package sqlite

// virtualFS reports whether dir is on a kernel's virtual file system; it
// knows them only on Linux.
func virtualFS(string) bool { return false }
