//go:build !linux

package bench

func ThreadCPU() (int64, bool) { return 0, false }
