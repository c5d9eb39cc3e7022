// Package klog is gohv's console logger: Xen's printk levels, the
// loglvl=/guest_loglvl= thresholds, and Xen's rate limit for lines a guest
// can cause. Each call writes one whole line to a Sink; on the metal the
// sink is the runtime's stdout, which the shim prefixes with "(XEN) ".
//
// Pure: imports only the standard library. Safe for concurrent use.
package klog
