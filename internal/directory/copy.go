package directory

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"mailautoconf/provision"
)

// The copy on disk of a directory's last good domain list, so that a
// restart during an outage serves it at once (and is ready).
type diskCopy struct {
	Version   int       `json:"version"`
	Directory string    `json:"directory"`
	Source    string    `json:"source"` // fingerprint of the domain query
	Read      time.Time `json:"read"`
	Domains   []string  `json:"domains"`
}

const copyVersion = 1

// fingerprint names the query a list came from, so that a copy made by
// another query (the catalog changed) is not served. It leaves out the
// URL's value, which is a secret; the variable's name is in.
func fingerprint(c *provision.Directory) string {
	h := sha256.New()
	for _, v := range []string{c.Type, c.URLEnv, c.Domains, c.Base, c.DomainsBase, c.DomainsFilter, c.DomainsAttribute} {
		fmt.Fprintf(h, "%d:%s\n", len(v), v)
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// copyPath is the copy's file, named after the directory. provision
// allows lower-case letters, digits, '-' and '_' in a name; any other
// name is hashed, so that none can reach outside the folder.
func (s *Set) copyPath(c *provision.Directory) string {
	name := c.Name
	if name == "" || strings.ContainsFunc(name, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_')
	}) {
		sum := sha256.Sum256([]byte(c.Name))
		name = "x" + hex.EncodeToString(sum[:8])
	}
	return filepath.Join(s.dataDir, "directories", name+".json")
}

// saveCopy writes the list atomically (a temporary file in the same
// folder, synced, then renamed over the old copy), readable by the owner
// only: customer domains are the provider's business.
func (s *Set) saveCopy(d *dir, list []string, read time.Time) error {
	path := s.copyPath(d.cfg)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // after a successful rename: gone already
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	err = json.NewEncoder(f).Encode(diskCopy{Version: copyVersion, Directory: d.cfg.Name, Source: fingerprint(d.cfg), Read: read.UTC(), Domains: list})
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return err
	}
	if dirf, err := os.Open(filepath.Dir(path)); err == nil {
		dirf.Sync() // the rename itself, where the file system wants it
		dirf.Close()
	}
	return nil
}

// loadCopy serves the copy on disk, if there is one for this directory and
// its query, until the server answers.
func (s *Set) loadCopy(d *dir) {
	path := s.copyPath(d.cfg)
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return
	}
	if err != nil {
		s.log.Warn("directory: copy of the domain list not read", "directory", d.cfg.Name, "err", err)
		return
	}
	defer f.Close()
	var c diskCopy
	if err := json.NewDecoder(f).Decode(&c); err != nil {
		s.log.Warn("directory: copy of the domain list not read", "directory", d.cfg.Name, "file", path, "err", err)
		return
	}
	if c.Version != copyVersion || c.Directory != d.cfg.Name || c.Source != fingerprint(d.cfg) {
		s.log.Info("directory: copy of the domain list on disk is of another query; not served", "directory", d.cfg.Name, "file", path)
		return
	}
	list := c.Domains
	if list == nil {
		list = []string{}
	}
	d.domains.Store(&list)
	d.lastGoodRead = c.Read
	d.m.domains.Set(float64(len(list)))
	d.m.lastGood.Set(float64(c.Read.UnixNano()) / 1e9)
	d.m.ready.Set(1)
	s.log.Info("directory: serving the domain list kept on disk until the directory answers",
		"directory", d.cfg.Name, "domains", len(list), "read_at", c.Read.Format(time.RFC3339))
}
