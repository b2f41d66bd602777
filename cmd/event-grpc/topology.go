package main

import (
	"io"
)

func printTopology(stdout io.Writer) error {
	cfg, err := loadConfig()
	if err != nil {
		return err
	}
	b, err := cfg.Topology.YAML()
	if err != nil {
		return err
	}
	_, err = stdout.Write(b)
	return err
}
