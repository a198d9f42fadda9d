// Package transporttest is the conformance suite every transport.Backend
// passes. A backend's test calls [Run] with a function that returns a fresh,
// empty backend for each subtest:
//
//	func TestConformance(t *testing.T) {
//		transporttest.Run(t, func(t *testing.T) transport.Backend {
//			b, err := local.New(t.TempDir(), local.Options{})
//			...
//		})
//	}
//
// The suite checks behaviour the rest of imgx relies on: atomic publish,
// resume at an offset, hidden temporary names, the errors for missing files
// and taken names, and cancelled contexts.
package transporttest
