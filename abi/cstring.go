// Copyright 2026 The gohv Authors. All rights reserved.

package abi

// CString returns the bytes of b up to its first NUL (all of b if there is
// none), for C char arrays such as StartInfo.Magic and StartInfo.CmdLine.
func CString(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}

// PutCString stores s in dst followed by a NUL and zeroes the rest of dst.
// It stores nothing and returns false if s and its NUL do not fit.
func PutCString(dst []byte, s string) bool {
	if len(s) >= len(dst) {
		return false
	}
	n := copy(dst, s)
	clear(dst[n:])
	return true
}
