package main

import (
	"fmt"
	"runtime"

	"github.com/virtwork/virtwork/internal/version"
)

type versionCmd struct{}

func (versionCmd) Run(e *env) error {
	fmt.Fprintf(e.stdout, "virtwork %s %s/%s %s\n", version.String(), runtime.GOOS, runtime.GOARCH, runtime.Version())
	return nil
}
