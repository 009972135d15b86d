package provision

import "flag"

// update rewrites golden files: go test ./... -update
var update = flag.Bool("update", false, "rewrite golden files in testdata/")
