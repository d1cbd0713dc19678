package sqlite

import "syscall"

// virtualFS reports whether dir is on a kernel's virtual file system (proc,
// sysfs and the like), where a database file cannot be created or kept.
func virtualFS(dir string) bool {
	var st syscall.Statfs_t
	if syscall.Statfs(dir, &st) != nil {
		return false
	}
	switch uint64(st.Type) {
	case 0x9fa0, // proc
		0x62656572, // sysfs
		0x64626720, // debugfs
		0x74726163, // tracefs
		0x73636673, // securityfs
		0x27e0eb,   // cgroup
		0x63677270, // cgroup2
		0x6e736673, // nsfs
		0x42494e4d, // binfmt_misc
		0x1cd1,     // devpts
		0xcafe4a11, // bpf
		0x6165676c: // pstore
		return true
	}
	return false
}
