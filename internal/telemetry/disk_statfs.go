//go:build linux || darwin || freebsd

package telemetry

import "golang.org/x/sys/unix"

func statfs(path string) (DiskUsage, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return DiskUsage{}, err
	}
	bs := uint64(st.Bsize)
	return DiskUsage{
		Used: (uint64(st.Blocks) - uint64(st.Bfree)) * bs,
		Free: uint64(st.Bavail) * bs,
		Size: uint64(st.Blocks) * bs,
	}, nil
}
