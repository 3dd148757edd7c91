// Package golden is for tests only: it compares what a test wrote with a
// golden file in the test's testdata/, or rewrites the file with the
// -update flag, given after the packages (go test ./pkg/ -run Golden
// -update). The golden files pin the on-disk formats: a diff in one is a
// change of format, for review.
package golden
