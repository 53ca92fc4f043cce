package testenv

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
)

// listensOn reports whether process pid holds a TCP socket listening on
// 127.0.0.1:port. A server's answer on its port does not prove it is the
// process just started: another test package's server may hold the port
// (FreePort's check and the bind are not one step), and the new one then
// exits with "Address already in use" after the other has answered, so a
// test would run against a stranger's server. Linux only, as the tests are.
func listensOn(pid, port int) (bool, error) {
	inodes, err := listenInodes(port)
	if err != nil || len(inodes) == 0 {
		return false, err
	}
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	fds, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		// The process has exited (and was reaped): the server just
		// started failed its bind while another answered on the port.
		// Reported as an error, start's caller did not take another port.
		return false, nil
	}
	if err != nil {
		return false, err
	}
	for _, fd := range fds {
		link, err := os.Readlink(dir + "/" + fd.Name())
		if err != nil {
			continue // closed meanwhile
		}
		if ino, ok := strings.CutPrefix(link, "socket:["); ok && inodes[strings.TrimSuffix(ino, "]")] {
			return true, nil
		}
	}
	return false, nil
}

// listenInodes returns the socket inodes listening on 127.0.0.1:port, read
// from /proc/net/tcp ("0100007F:1F90" is 127.0.0.1:8080, state 0A LISTEN).
func listenInodes(port int) (map[string]bool, error) {
	f, err := os.Open("/proc/net/tcp")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	want := fmt.Sprintf("0100007F:%04X", port)
	inodes := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
		fs := strings.Fields(sc.Text())
		if len(fs) >= 10 && fs[1] == want && fs[3] == "0A" {
			if _, err := strconv.ParseUint(fs[9], 10, 64); err == nil {
				inodes[fs[9]] = true
			}
		}
	}
	return inodes, sc.Err()
}
