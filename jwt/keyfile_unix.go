//go:build unix

package jwt

import (
	"io/fs"
	"os"
	"syscall"
)

// chownLike gives f the owner and group of like, when permitted (root, or
// the owner keeping its own group); otherwise f stays the caller's.
func chownLike(f *os.File, like fs.FileInfo) {
	if st, ok := like.Sys().(*syscall.Stat_t); ok {
		_ = f.Chown(int(st.Uid), int(st.Gid))
	}
}
