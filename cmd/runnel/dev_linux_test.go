package main

import (
	"testing"
	"time"
)

// TestDevKilled: the brokers die with runnel dev, even killed by SIGKILL
// (Linux's parent-death signal).
func TestDevKilled(t *testing.T) {
	d := startDev(t, "--brokers", "2")
	if err := d.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	d.wait(t, 10*time.Second)
	waitGone(t, d.pids)
}
