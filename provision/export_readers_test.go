package provision

// The reader tests (autodiscover_readers_test.go) are in package
// provision_test, since they use the doctor's reader models and the
// doctor imports provision; these are the test helpers they share with
// autodiscover_test.go.
var (
	LoadADCatalog    = loadADCatalog
	ADNow            = adNow
	POXRequest       = poxRequest
	OutlookRequest   = outlookRequest
	NSOutlookRequest = nsOutlookRequest
)
