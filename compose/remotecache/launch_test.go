package remotecache

import (
	"os"
	"os/exec"

	"github.com/strata-build/strata/internal/testregistry"
)

// launchProgram starts a helper program for a test (docker-registry). Only
// _test.go files may start programs; strata itself never does.
func launchProgram(bin string, args []string, log *os.File) (testregistry.Process, error) {
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return execProcess{cmd}, nil
}

type execProcess struct{ *exec.Cmd }

func (p execProcess) Kill() error { return p.Process.Kill() }
