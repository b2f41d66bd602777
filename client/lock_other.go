//go:build !unix

package client

import (
	"fmt"
	"os"
	"path/filepath"
)

// lockDir creates the lock file; on this platform it does not keep a
// second Client out, so use one Client per directory.
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("event-grpc client: StateDir: %w", err)
	}
	return f, nil
}

func unlockDir(f *os.File) { f.Close() }
