//go:build !linux

package lab

import "errors"

// hostNetwork is sql01's simulated host network; only Linux has one.
type hostNetwork struct{ prefix []string }

func startHostNetwork() (*hostNetwork, error) {
	return nil, errors.New("the lab simulates a host firewall on Linux only")
}

func (h *hostNetwork) close() {}
