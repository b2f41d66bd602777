package telemetry

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// DiskUsage is the state of the filesystem that holds a directory.
type DiskUsage struct {
	Path string `json:"path"`
	// Used and Free are bytes as df counts them: Used is the filesystem's
	// size less its free blocks, Free what an unprivileged process may
	// still write (blocks reserved for root excluded), so Used/(Used+Free)
	// is df's Use%.
	Used uint64 `json:"used"`
	Free uint64 `json:"free"`
	Size uint64 `json:"size"`
}

// UsedFraction is df's Use%: Used / (Used + Free), 0 for an empty
// filesystem.
func (d DiskUsage) UsedFraction() float64 {
	if d.Used+d.Free == 0 {
		return 0
	}
	return float64(d.Used) / float64(d.Used+d.Free)
}

// StatDisk reports the filesystem holding path (statfs).
func StatDisk(path string) (DiskUsage, error) {
	d, err := statfs(path)
	if err != nil {
		return DiskUsage{Path: path}, fmt.Errorf("statfs %s: %w", path, err)
	}
	d.Path = path
	return d, nil
}

var (
	diskUsedDesc = prometheus.NewDesc("eventgrpc_data_dir_bytes_used",
		"Bytes used on the filesystem that holds DATA_DIR (size less free blocks, as df counts).", []string{"path"}, nil)
	diskFreeDesc = prometheus.NewDesc("eventgrpc_data_dir_bytes_free",
		"Bytes an unprivileged process may still write on the filesystem that holds DATA_DIR.", []string{"path"}, nil)
	diskSizeDesc = prometheus.NewDesc("eventgrpc_data_dir_bytes_size",
		"Size in bytes of the filesystem that holds DATA_DIR.", []string{"path"}, nil)
	diskUpDesc = prometheus.NewDesc("eventgrpc_data_dir_stat_up",
		"1 when the filesystem of DATA_DIR could be read at the last scrape, else 0.", []string{"path"}, nil)
)

// DiskCollector exports the DATA_DIR filesystem's use at scrape time.
type DiskCollector struct{ path string }

// NewDiskCollector returns the collector of path's filesystem.
func NewDiskCollector(path string) *DiskCollector { return &DiskCollector{path} }

// Describe implements prometheus.Collector.
func (c *DiskCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- diskUsedDesc
	ch <- diskFreeDesc
	ch <- diskSizeDesc
	ch <- diskUpDesc
}

// Collect implements prometheus.Collector.
func (c *DiskCollector) Collect(ch chan<- prometheus.Metric) {
	d, err := StatDisk(c.path)
	if err != nil {
		ch <- prometheus.MustNewConstMetric(diskUpDesc, prometheus.GaugeValue, 0, c.path)
		return
	}
	ch <- prometheus.MustNewConstMetric(diskUpDesc, prometheus.GaugeValue, 1, c.path)
	ch <- prometheus.MustNewConstMetric(diskUsedDesc, prometheus.GaugeValue, float64(d.Used), c.path)
	ch <- prometheus.MustNewConstMetric(diskFreeDesc, prometheus.GaugeValue, float64(d.Free), c.path)
	ch <- prometheus.MustNewConstMetric(diskSizeDesc, prometheus.GaugeValue, float64(d.Size), c.path)
}
