// A tiny Go program linked the way gohv is (-E main.entry32 -T 0x200000), used
// by internal/image's tests as a real input for Stamp. It is its own module so
// that the gohv module never builds it.
module entry32

go 1.26
