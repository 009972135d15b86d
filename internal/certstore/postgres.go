package certstore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"sync"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// The PostgreSQL tables, created on first use (docs/guide/replicas.md,
// "Several replicas"): one row per stored key, one row per lock held.
const (
	pgDataTable = "mailautoconf_certmagic_data"
	pgLockTable = "mailautoconf_certmagic_locks"
)

const pgSchema = `
CREATE TABLE IF NOT EXISTS ` + pgDataTable + ` (
	key      text PRIMARY KEY,
	value    bytea NOT NULL,
	modified timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS ` + pgLockTable + ` (
	name    text PRIMARY KEY,
	owner   text NOT NULL,
	expires timestamptz NOT NULL
);`

// pgSchemaLock serialises the replicas creating the tables at the same
// time: concurrent CREATE TABLE IF NOT EXISTS can fail on PostgreSQL's
// catalog (pg_type's unique index). Any constant serves.
const pgSchemaLock = 0x6d61696c6175746f // "mailauto"

// postgres keeps keys in a table. Lock expiry is computed with the
// database's clock (now()), so that the replicas' clocks need not agree.
type postgres struct {
	pool *pgxpool.Pool
	name string
	o    Options

	schemaMu sync.Mutex
	schemaOK bool

	mu   sync.Mutex
	held map[string]heldLock
}

type heldLock struct {
	token string
	r     *refresher
}

func openPostgres(rawURL string, u *url.URL, o Options) (*postgres, error) {
	cfg, err := pgxpool.ParseConfig(rawURL)
	if err != nil {
		return nil, fmt.Errorf("certificate storage %s: %v", redact(u), errors.Unwrap(err))
	}
	cfg.MaxConns = max(cfg.MaxConns, 4)
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		return nil, fmt.Errorf("certificate storage %s: %w", redact(u), err)
	}
	return &postgres{pool: pool, name: redact(u), o: o, held: map[string]heldLock{}}, nil
}

func (p *postgres) String() string { return p.name }

func (p *postgres) Close() error { p.pool.Close(); return nil }

// schema creates the tables once; a failure is tried again at the next
// use.
func (p *postgres) schema(ctx context.Context) error {
	p.schemaMu.Lock()
	defer p.schemaMu.Unlock()
	if p.schemaOK {
		return nil
	}
	err := pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", int64(pgSchemaLock)); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, pgSchema)
		return err
	})
	if err != nil {
		return fmt.Errorf("creating the tables: %w", err)
	}
	p.schemaOK = true
	return nil
}

func (p *postgres) Ping(ctx context.Context) error {
	if err := p.schema(ctx); err != nil {
		return err
	}
	return p.pool.Ping(ctx)
}

func (p *postgres) Store(ctx context.Context, key string, value []byte) error {
	if err := p.schema(ctx); err != nil {
		return err
	}
	_, err := p.pool.Exec(ctx, `INSERT INTO `+pgDataTable+` (key, value, modified) VALUES ($1, $2, now())
		ON CONFLICT (key) DO UPDATE SET value = excluded.value, modified = excluded.modified`, key, value)
	return err
}

func (p *postgres) Load(ctx context.Context, key string) ([]byte, error) {
	if err := p.schema(ctx); err != nil {
		return nil, err
	}
	var v []byte
	err := p.pool.QueryRow(ctx, `SELECT value FROM `+pgDataTable+` WHERE key = $1`, key).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notExist(key)
	}
	return v, err
}

func (p *postgres) Delete(ctx context.Context, key string) error {
	if err := p.schema(ctx); err != nil {
		return err
	}
	_, err := p.pool.Exec(ctx, `DELETE FROM `+pgDataTable+` WHERE key = $1 OR starts_with(key, $2)`, key, dirPrefix(key))
	return err
}

func (p *postgres) Exists(ctx context.Context, key string) bool {
	_, err := p.Stat(ctx, key)
	return err == nil
}

// under returns the keys of files below key (a directory), at most limit
// of them when limit > 0.
func (p *postgres) under(ctx context.Context, key string, limit int) ([]string, error) {
	q := `SELECT key FROM ` + pgDataTable + ` WHERE starts_with(key, $1) ORDER BY key`
	args := []any{dirPrefix(key)}
	if limit > 0 {
		q += ` LIMIT $2`
		args = append(args, limit)
	}
	rows, err := p.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

func (p *postgres) List(ctx context.Context, prefix string, recursive bool) ([]string, error) {
	if err := p.schema(ctx); err != nil {
		return nil, err
	}
	keys, err := p.under(ctx, prefix, 0)
	if err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		// A file lists as empty, as in the file storage; nothing at all
		// does not exist.
		if _, err := p.Stat(ctx, prefix); err != nil {
			return nil, err
		}
		return nil, nil
	}
	return children(prefix, keys, recursive), nil
}

func (p *postgres) Stat(ctx context.Context, key string) (certmagic.KeyInfo, error) {
	if err := p.schema(ctx); err != nil {
		return certmagic.KeyInfo{}, err
	}
	var (
		size     int64
		modified time.Time
	)
	err := p.pool.QueryRow(ctx, `SELECT octet_length(value), modified FROM `+pgDataTable+` WHERE key = $1`, key).Scan(&size, &modified)
	if err == nil {
		return certmagic.KeyInfo{Key: key, Modified: modified, Size: size, IsTerminal: true}, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return certmagic.KeyInfo{}, err
	}
	keys, err := p.under(ctx, key, 1)
	if err != nil {
		return certmagic.KeyInfo{}, err
	}
	if len(keys) == 0 {
		return certmagic.KeyInfo{}, notExist(key)
	}
	return certmagic.KeyInfo{Key: key, IsTerminal: false}, nil
}

// Lock takes the lock name: it inserts the lock's row, or takes over one
// whose holder let it expire, and polls while another holds it.
func (p *postgres) Lock(ctx context.Context, name string) error {
	if err := p.schema(ctx); err != nil {
		return err
	}
	tok := token()
	ttl := p.o.LockTTL.Seconds()
	err := waitLock(ctx, p.o.LockPoll, func() (bool, error) {
		tag, err := p.pool.Exec(ctx, `INSERT INTO `+pgLockTable+` (name, owner, expires)
			VALUES ($1, $2, now() + make_interval(secs => $3))
			ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires = excluded.expires
			WHERE `+pgLockTable+`.expires < now()`, name, tok, ttl)
		if err != nil {
			return false, err
		}
		return tag.RowsAffected() == 1, nil
	})
	if err != nil {
		return err
	}
	r := keepFresh(p.o.LockTTL/3, p.o.Log, name, func(ctx context.Context) (bool, error) {
		tag, err := p.pool.Exec(ctx, `UPDATE `+pgLockTable+` SET expires = now() + make_interval(secs => $3)
			WHERE name = $1 AND owner = $2`, name, tok, ttl)
		return err == nil && tag.RowsAffected() == 1, err
	})
	p.mu.Lock()
	p.held[name] = heldLock{token: tok, r: r}
	p.mu.Unlock()
	return nil
}

// Unlock releases name if this storage holds it; a lock taken over by
// another replica meanwhile is left alone.
func (p *postgres) Unlock(ctx context.Context, name string) error {
	p.mu.Lock()
	h, ok := p.held[name]
	delete(p.held, name)
	p.mu.Unlock()
	if !ok {
		return fmt.Errorf("unlock %q: not held", name)
	}
	h.r.end()
	_, err := p.pool.Exec(ctx, `DELETE FROM `+pgLockTable+` WHERE name = $1 AND owner = $2`, name, h.token)
	return err
}

// dirPrefix is what the keys below key start with.
func dirPrefix(key string) string {
	if key == "" {
		return ""
	}
	return key + "/"
}

func notExist(key string) error {
	return fmt.Errorf("%q: %w", key, fs.ErrNotExist)
}

// pgRefused reports whether err is PostgreSQL's error answer to a
// statement (a read-only transaction, a missing privilege, a full disk,
// a wrong password): PostgreSQL was reached and refused it. Classes 08
// (connection exception) and 57 (operator intervention: a server shutting
// down or starting) are a server not serving, the same as one not
// reached (PostgreSQL's documentation, Appendix A, "PostgreSQL Error
// Codes").
func pgRefused(err error) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return false
	}
	class := pe.Code[:min(2, len(pe.Code))]
	return class != "08" && class != "57"
}

func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }
