//go:build !linux

package redisstore

import (
	"os"
	"time"
)

// changeTime is not read here: files are compared by identity, size and
// modification time alone.
func changeTime(os.FileInfo) time.Time { return time.Time{} }
