module github.com/gohv/gohv

go 1.26

toolchain go1.26.8
