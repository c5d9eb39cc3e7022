//go:build race

package hv

// destroyRounds under the race detector (the race pass of `make test`),
// which slows each round about thirtyfold: the plain pass builds and
// destroys the full 1,000; this pass looks for races in the same code.
const destroyRounds = 50
