//go:build unix && !linux

package main

import "syscall"

// devSysProcAttr is how runnel dev starts a broker: in a process group of
// its own, so that a Ctrl-C in the terminal reaches runnel dev alone, which
// stops the brokers one way (SIGTERM once: a second signal would kill a
// broker handing off its leaderships). Only Linux has a parent-death
// signal: here a broker outlives a runnel dev killed by SIGKILL.
func devSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
