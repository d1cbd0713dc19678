//go:build unix

package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// lockDatabase makes sure no other "tenantless serve" serves the SQLite
// database at path: it takes an exclusive advisory lock (flock) on
// path+".lock" and writes this process's ID into it. Two servers on one
// file would each cache clients and verified tokens and miss each other's
// changes, so the second refuses to start and names the first. The
// kernel releases the lock when the process ends, however it ends; the
// file stays. Commands other than serve do not take it: they are meant to
// run beside the server.
func lockDatabase(path string) (release func(), err error) {
	name := path + ".lock"
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		// The database's own checks say better what is wrong with the
		// directory; without a lock file there is no second server to find.
		return func() {}, nil
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		b := make([]byte, 32)
		n, _ := f.ReadAt(b, 0)
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			holder := "another process"
			if pid, perr := strconv.Atoi(strings.TrimSpace(string(b[:n]))); perr == nil && pid > 0 {
				holder = fmt.Sprintf("process %d", pid)
			}
			return nil, fmt.Errorf("database %s is already being served by %s (it holds %s); stop that server first, or give this one another --db: two servers on one SQLite file would not see each other's changes", path, holder, name)
		}
		return nil, fmt.Errorf("lock %s: %w", name, err)
	}
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return func() {
		_ = f.Truncate(0)
		_ = f.Close() // releases the lock
	}, nil
}
