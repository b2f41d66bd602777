//go:build !(linux || darwin || freebsd)

package telemetry

import (
	"errors"
	"runtime"
)

func statfs(string) (DiskUsage, error) {
	return DiskUsage{}, errors.New("disk usage is not implemented on " + runtime.GOOS)
}
