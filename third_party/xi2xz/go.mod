module github.com/xi2/xz
