//go:build !race

package handlers

// raceEnabled tells whether the test binary runs under the race detector.
const raceEnabled = false
