package directory

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"mailautoconf/provision"
)

// Pool sizes of the SQL directories: a domain refresh holds one
// connection, login lookups share the rest. Lookups are cached and made
// once per address (singleflight), so a few connections go a long way.
const (
	sqlMaxOpen = 8
	sqlMaxIdle = 4
)

// sqlSource is a PostgreSQL or MySQL directory through database/sql. The
// address is always a bound parameter ($1 or ?) of the catalog's login
// query: it never becomes SQL text.
type sqlSource struct {
	db       *sql.DB
	domainsQ string
	loginQ   string
	dlimit   time.Duration
	scrub    *scrubber
}

func connectTimeout(d *provision.Directory) time.Duration {
	return max(d.Timeout, 5*time.Second)
}

func openPostgres(d *provision.Directory, raw string) (Source, error) {
	cfg, err := pgx.ParseConfig(raw)
	if err != nil {
		// pgx's message quotes the connection string; say which
		// variable instead.
		return nil, fmt.Errorf("directory %q: %s does not hold a valid PostgreSQL connection URL (its value is not shown)", d.Name, d.URLEnv)
	}
	sc := newScrubber(d.Name, raw, cfg.Password)
	if cfg.ConnectTimeout == 0 || cfg.ConnectTimeout > connectTimeout(d) {
		cfg.ConnectTimeout = connectTimeout(d)
	}
	if _, ok := cfg.RuntimeParams["application_name"]; !ok {
		cfg.RuntimeParams["application_name"] = "mailautoconf"
	}
	return newSQLSource(d, sql.OpenDB(stdlib.GetConnector(*cfg)), sc), nil
}

func openMySQL(d *provision.Directory, raw string) (Source, error) {
	bad := fmt.Errorf("directory %q: %s does not hold a valid MySQL URL (mysql://user:password@host:port/database?params, or the driver's DSN; its value is not shown)", d.Name, d.URLEnv)
	cfg, err := mysqlConfig(raw)
	if err != nil {
		return nil, bad
	}
	sc := newScrubber(d.Name, raw, cfg.Passwd)
	// The address must reach the server as a parameter of a prepared
	// statement, never spliced into the text by the driver.
	cfg.InterpolateParams = false
	if cfg.Timeout == 0 || cfg.Timeout > connectTimeout(d) {
		cfg.Timeout = connectTimeout(d)
	}
	cfg.Logger = mysqlLog{sc}
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, bad
	}
	return newSQLSource(d, sql.OpenDB(conn), sc), nil
}

// mysqlConfig parses a mysql:// or mariadb:// URL, or else the driver's
// own DSN (user:password@tcp(host:port)/database?params).
func mysqlConfig(raw string) (*mysql.Config, error) {
	if !strings.HasPrefix(raw, "mysql://") && !strings.HasPrefix(raw, "mariadb://") {
		return mysql.ParseDSN(raw)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "3306")
	}
	// The DSN grammar cannot carry every password (a "/" ends it):
	// parse the rest as a DSN without credentials, then set them.
	cfg, err := mysql.ParseDSN("tcp(" + host + ")/" + strings.TrimPrefix(u.Path, "/") + "?" + u.RawQuery)
	if err != nil {
		return nil, err
	}
	if u.User != nil {
		cfg.User = u.User.Username()
		cfg.Passwd, _ = u.User.Password()
	}
	return cfg, nil
}

// mysqlLog takes the MySQL driver's own complaints (which otherwise go
// to standard error through a package global) to slog at debug level,
// scrubbed: what matters reaches the caller as an error anyway.
type mysqlLog struct{ sc *scrubber }

func (l mysqlLog) Print(v ...any) {
	slog.Debug("directory driver", "directory", l.sc.name, "message", l.sc.text(fmt.Sprint(v...)))
}

func newSQLSource(d *provision.Directory, db *sql.DB, sc *scrubber) *sqlSource {
	db.SetMaxOpenConns(sqlMaxOpen)
	db.SetMaxIdleConns(sqlMaxIdle)
	db.SetConnMaxIdleTime(5 * time.Minute)
	db.SetConnMaxLifetime(time.Hour)
	return &sqlSource{db: db, domainsQ: d.Domains, loginQ: d.Login, dlimit: domainsLimit(d), scrub: sc}
}

func (s *sqlSource) Domains(ctx context.Context) ([]string, error) {
	if s.domainsQ == "" {
		return nil, s.scrub.err("domains", errNoQuery)
	}
	ctx, cancel := context.WithTimeout(ctx, s.dlimit)
	defer cancel()
	rows, err := s.db.QueryContext(ctx, s.domainsQ)
	if err != nil {
		return nil, s.scrub.err("domains query", err)
	}
	defer rows.Close()
	if cols, err := rows.Columns(); err != nil {
		return nil, s.scrub.err("domains query", err)
	} else if len(cols) != 1 {
		return nil, s.scrub.err("domains query", fmt.Errorf("returns %d columns, want one (the domain)", len(cols)))
	}
	var out []string
	var v sql.NullString
	for rows.Next() {
		if err := rows.Scan(&v); err != nil {
			return nil, s.scrub.err("domains query", err)
		}
		if v.Valid {
			out = append(out, v.String)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, s.scrub.err("domains query", err)
	}
	return out, nil
}

func (s *sqlSource) Login(ctx context.Context, address string) (string, bool, error) {
	if s.loginQ == "" {
		return "", false, s.scrub.err("login", errNoQuery)
	}
	if !usable(address) {
		return "", false, nil
	}
	rows, err := s.db.QueryContext(ctx, s.loginQ, address)
	if err != nil {
		return "", false, s.scrub.err("login query", err)
	}
	defer rows.Close()
	if cols, err := rows.Columns(); err != nil {
		return "", false, s.scrub.err("login query", err)
	} else if len(cols) != 1 {
		return "", false, s.scrub.err("login query", fmt.Errorf("returns %d columns, want one (the login)", len(cols)))
	}
	var v sql.NullString
	n := 0
	for rows.Next() {
		if n++; n > 1 {
			return "", false, s.scrub.err("login query", ErrAmbiguous)
		}
		if err := rows.Scan(&v); err != nil {
			return "", false, s.scrub.err("login query", err)
		}
	}
	if err := rows.Err(); err != nil {
		return "", false, s.scrub.err("login query", err)
	}
	if !v.Valid || v.String == "" || len(v.String) > MaxLogin {
		return "", false, nil
	}
	return v.String, true, nil
}

func (s *sqlSource) Close() error { return s.db.Close() }
