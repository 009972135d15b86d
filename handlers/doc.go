// Package handlers is mailautoconf's HTTP surface: each handler parses a
// request, asks package provision, and writes bytes. Protocol semantics live
// in provision, not here.
package handlers
