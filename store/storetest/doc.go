// Package storetest holds the conformance suites every [store.ObjectStore]
// and [store.MetaDB] implementation must pass, and [StartS3], which runs a
// real S3 server (versitygw) for tests.
//
// It is imported only by tests: a back end's test configures it in a few
// lines and calls [Run], [RunMetaDB], [RunAuditStore] or [RunAccountStore]:
//
//	func TestFS(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.ObjectStore {
//			s, err := store.NewFS(t.TempDir())
//			if err != nil {
//				t.Fatal(err)
//			}
//			return s
//		})
//	}
//
// # S3 in tests
//
// [StartS3] looks for the versitygw binary in $DICOMGATE_VERSITYGW, then
// $PATH, then $GOPATH/bin (default ~/go/bin); scripts/s3test.sh installs
// it. Without the binary the test is skipped, unless CI=true or
// DICOMGATE_REQUIRE_S3=1, where a skip would hide a gap and the test fails.
package storetest
