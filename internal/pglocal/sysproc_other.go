//go:build unix && !linux

package pglocal

import "syscall"

// sysProcAttr returns the attributes for a server child process. Outside
// Linux there is no parent-death signal: a server whose parent dies without
// calling Stop keeps running until it is stopped by hand.
func sysProcAttr(cred *syscall.Credential, _ syscall.Signal) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{
		Setpgid:    true,
		Credential: cred,
	}
}
