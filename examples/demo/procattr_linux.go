package main

import "syscall"

// procAttr puts a part in its own process group and, as a safety net should
// the supervisor itself be killed with SIGKILL, has the kernel kill the
// part too.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
