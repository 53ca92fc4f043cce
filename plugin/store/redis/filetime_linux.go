//go:build linux

package redisstore

import (
	"os"
	"syscall"
	"time"
)

// changeTime is the file's status change time (ctime): the kernel sets it
// on every write and on a change of the modification time, and nothing
// sets it back.
func changeTime(fi os.FileInfo) time.Time {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return time.Time{}
	}
	return time.Unix(st.Ctim.Unix())
}
