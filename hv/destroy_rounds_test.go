//go:build !race

package hv

// destroyRounds is how many domains TestDestroyDomain1000 builds and
// destroys: 1,000 in the plain pass of `make test`.
const destroyRounds = 1000
