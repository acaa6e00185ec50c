package gateway

// SetPINExtraProcs says whether pools made after it add a P per worker
// to GOMAXPROCS, and returns what it was. For benchmarks comparing the
// two.
func SetPINExtraProcs(on bool) (prev bool) {
	prev, pinExtraProcs = pinExtraProcs, on
	return prev
}
