package provision

import "mailautoconf/internal/yamlcheck"

// maxNodes bounds the YAML nodes (scalars, lists, mappings, aliases) of one
// catalog file. The YAML library builds the whole node tree of a file
// before the decoder sees it, at about 200 bytes a node, and a node can
// take a single byte of the file ("{a,a,a,..." is a node a byte):
// the 64 MiB byte limit alone let a dense file of short items ("- a" a
// line) take gigabytes. A million domains from bench/gencatalog are about
// 1.5 million nodes (one a domain, about 45 for each of their 10,000
// providers); the costliest files within the limit that we measured (two
// million distinct domains) peak under 900 MB through the whole check
// (docs/guide/hardening.md).
const maxNodes = 2_000_000

// nodesBounded refuses a file that may hold more than maxNodes nodes,
// before the YAML library builds any of them. The count is
// yamlcheck.NodeBound's, which may exceed the nodes the library builds but
// is never below them.
func (d *decoder) nodesBounded(data []byte) bool {
	if n := yamlcheck.NodeBound(data, maxNodes); n > maxNodes {
		d.Errorf(nil, "", "more than %d YAML nodes (values, lists and mappings, counting the empty values a line may stand for): at most %d a file, where a million domains take about 1.5 million; split the catalog into files of a directory", maxNodes, maxNodes)
		return false
	}
	return true
}
