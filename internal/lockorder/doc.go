// Package lockorder takes two locks of one kind in a fixed global order, so
// that code locking two domains' tables at once (an event channel between
// two domains, a grant mapped by another domain) cannot deadlock against
// code locking the same pair the other way round. The order is ascending
// key, the key being the domain id; the same lock passed twice is taken
// once.
//
// Pure: imports only the standard library. Goroutine context (it blocks).
package lockorder
