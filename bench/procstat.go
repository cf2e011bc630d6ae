package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// A target's cost is read from /proc, for its process and every process it
// started (Squid and Privoxy may fork helpers): CPU as utime+stime from
// /proc/<pid>/stat, memory as the peak resident set (VmHWM in
// /proc/<pid>/status), which writing "5" to /proc/<pid>/clear_refs resets
// (Linux 4.0+), so that each scenario reports its own peak.

// clockTicks is USER_HZ, the unit of utime and stime. It is 100 on every
// Linux architecture Go supports (the kernel exports it so to user space
// regardless of its internal HZ).
const clockTicks = 100

// procInfo is what /proc/<pid>/stat says about one process.
type procInfo struct {
	ppid  int
	ticks int64 // utime + stime, all threads
}

func readStat(pid int) (procInfo, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procInfo{}, err
	}
	// The command name (field 2) is in parentheses and may hold spaces or
	// parentheses itself; the fields after the last ')' are plain.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procInfo{}, fmt.Errorf("/proc/%d/stat: no command field", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); ppid is field 4, utime 14, stime 15.
	if len(f) < 13 {
		return procInfo{}, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f)+2)
	}
	ppid, err1 := strconv.Atoi(f[1])
	ut, err2 := strconv.ParseInt(f[11], 10, 64)
	st, err3 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return procInfo{}, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	return procInfo{ppid: ppid, ticks: ut + st}, nil
}

// processTree returns root and all its descendants that are alive.
func processTree(root int) []int {
	entries, _ := os.ReadDir("/proc")
	parent := map[int]int{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if info, err := readStat(pid); err == nil {
			parent[pid] = info.ppid
		}
	}
	tree := []int{root}
	in := map[int]bool{root: true}
	for grew := true; grew; {
		grew = false
		for pid, pp := range parent {
			if in[pp] && !in[pid] {
				in[pid] = true
				tree = append(tree, pid)
				grew = true
			}
		}
	}
	return tree
}

// cpuSeconds is the CPU time used so far by root's process tree.
func cpuSeconds(root int) float64 {
	var ticks int64
	for _, pid := range processTree(root) {
		if info, err := readStat(pid); err == nil {
			ticks += info.ticks
		}
	}
	return float64(ticks) / clockTicks
}

// resetPeakRSS makes every process of root's tree start a new VmHWM.
func resetPeakRSS(root int) {
	for _, pid := range processTree(root) {
		_ = os.WriteFile(filepath.Join("/proc", strconv.Itoa(pid), "clear_refs"), []byte("5"), 0)
	}
}

// peakRSS sums VmHWM over root's tree, in bytes.
func peakRSS(root int) int64 {
	var total int64
	for _, pid := range processTree(root) {
		total += statusKB(pid, "VmHWM:") * 1024
	}
	return total
}

func statusKB(pid int, field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return n
		}
	}
	return 0
}
