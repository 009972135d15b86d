// Package scenario holds the doctor's end-to-end tests: a real DNS
// server, the service behind TLS, and mail greeters on 127.0.0.1. They
// live apart from package doctor so that its fuzz targets are not built
// with the whole service linked in.
package scenario
