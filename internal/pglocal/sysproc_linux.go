package pglocal

import "syscall"

// sysProcAttr returns the attributes for a server child process: its own
// process group (so a terminal's Ctrl-C reaches only our process, which then
// stops the server in order), the unprivileged credential when running as
// root, and a parent-death signal so the child does not outlive us.
//
// The kernel delivers the parent-death signal when the OS thread that forked
// the child exits; the Go runtime does not retire threads except for
// goroutines that exit while locked to one, so in practice this means "when
// this process dies".
func sysProcAttr(cred *syscall.Credential, deathSig syscall.Signal) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{
		Setpgid:    true,
		Credential: cred,
		Pdeathsig:  deathSig,
	}
}
