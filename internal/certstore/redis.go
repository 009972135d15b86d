package certstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/redis/go-redis/v9"
)

// defaultRedisPrefix starts every key the service writes in Redis.
const defaultRedisPrefix = "mailautoconf:certmagic:"

// redisStore keeps each stored key in a hash (<prefix>f:<key>: value and
// modification time), the set of keys in a sorted set (<prefix>keys, all
// scores 0, so that a directory is a lexicographic range), and each lock
// in a key with an expiry (<prefix>lock:<name>) whose value is its
// holder's token: Redis itself drops the lock of a holder that stopped
// refreshing it.
type redisStore struct {
	c      *redis.Client
	prefix string
	name   string
	o      Options

	mu   sync.Mutex
	held map[string]heldLock
}

func openRedis(u *url.URL, o Options) (*redisStore, error) {
	prefix := defaultRedisPrefix
	q := u.Query()
	if q.Has("key_prefix") {
		prefix = q.Get("key_prefix")
		q.Del("key_prefix")
	}
	clean := *u
	clean.RawQuery = q.Encode()
	opt, err := redis.ParseURL(clean.String())
	if err != nil {
		return nil, fmt.Errorf("certificate storage %s: %v", redact(u), err)
	}
	routeRedisLog(o.Log)
	return &redisStore{c: redis.NewClient(opt), prefix: prefix, name: redact(u), o: o, held: map[string]heldLock{}}, nil
}

// go-redis writes its own lines (a failed dial, a connection it
// discards) through one logger for the whole process, which it writes
// unstructured to stderr unless redis.SetLogger replaces it
// (internal/log.go of github.com/redis/go-redis/v9 v9.23): while Redis is
// unreachable, a line for every failed dial, several a second. They go to the Log of the Redis storage opened last instead,
// at debug level: the service logs what an operator acts on, the storage
// becoming unreachable, refusing, and reachable again, itself
// (Instrumented), once per change. A process opens one storage; tests
// that open several see go-redis's lines in the newest one's log.
var (
	redisLogOnce sync.Once
	redisLog     atomic.Pointer[slog.Logger]
)

func routeRedisLog(log *slog.Logger) {
	redisLog.Store(log)
	redisLogOnce.Do(func() { redis.SetLogger(redisLogger{}) })
}

// redisLogger is go-redis's logger (its internal.Logging interface).
type redisLogger struct{}

func (redisLogger) Printf(ctx context.Context, format string, v ...any) {
	log := redisLog.Load()
	if log == nil || !log.Enabled(ctx, slog.LevelDebug) {
		return
	}
	log.DebugContext(ctx, "certificate storage: go-redis", "message", fmt.Sprintf(format, v...))
}

// redisRefused reports whether err is Redis's error reply to a command
// (WRONGTYPE, READONLY, OOM, NOPERM, MISCONF, ...): Redis was reached and
// refused it. LOADING, BUSY, MASTERDOWN, TRYAGAIN and CLUSTERDOWN are a
// server not serving yet, the same as one not reached; go-redis's redis.Nil
// never gets here (Load and Stat turn it into fs.ErrNotExist).
func redisRefused(err error) bool {
	var re redis.Error
	if !errors.As(err, &re) || errors.Is(err, redis.Nil) {
		return false
	}
	for _, p := range []string{"LOADING", "BUSY", "MASTERDOWN", "TRYAGAIN", "CLUSTERDOWN"} {
		if redis.HasErrorPrefix(err, p) {
			return false
		}
	}
	return true
}

func (r *redisStore) String() string { return r.name }

func (r *redisStore) Close() error { return r.c.Close() }

func (r *redisStore) Ping(ctx context.Context) error { return r.c.Ping(ctx).Err() }

func (r *redisStore) file(key string) string { return r.prefix + "f:" + key }
func (r *redisStore) index() string          { return r.prefix + "keys" }
func (r *redisStore) lock(name string) string {
	return r.prefix + "lock:" + name
}

func (r *redisStore) Store(ctx context.Context, key string, value []byte) error {
	_, err := r.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, r.file(key), "v", value, "m", strconv.FormatInt(time.Now().UnixNano(), 10))
		p.ZAdd(ctx, r.index(), redis.Z{Member: key})
		return nil
	})
	return err
}

func (r *redisStore) Load(ctx context.Context, key string) ([]byte, error) {
	v, err := r.c.HGet(ctx, r.file(key), "v").Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, notExist(key)
	}
	return v, err
}

// under returns the keys of files below key (a directory), at most limit
// when limit > 0.
func (r *redisStore) under(ctx context.Context, key string, limit int64) ([]string, error) {
	// ZRANGE BYLEX (Redis 6.2 and later), which ZRANGEBYLEX's page
	// names as its replacement: https://redis.io/commands/zrangebylex
	z := redis.ZRangeArgs{Key: r.index(), Start: "-", Stop: "+", ByLex: true}
	if key != "" {
		// Every byte of a UTF-8 key is below 0xff.
		z.Start, z.Stop = "["+key+"/", "("+key+"/\xff"
	}
	if limit > 0 {
		z.Count = limit
	}
	return r.c.ZRangeArgs(ctx, z).Result()
}

func (r *redisStore) Delete(ctx context.Context, key string) error {
	keys, err := r.under(ctx, key, 0)
	if err != nil {
		return err
	}
	keys = append(keys, key)
	_, err = r.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		for _, k := range keys {
			p.Del(ctx, r.file(k))
			p.ZRem(ctx, r.index(), k)
		}
		return nil
	})
	return err
}

func (r *redisStore) Exists(ctx context.Context, key string) bool {
	_, err := r.Stat(ctx, key)
	return err == nil
}

func (r *redisStore) List(ctx context.Context, prefix string, recursive bool) ([]string, error) {
	keys, err := r.under(ctx, prefix, 0)
	if err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		if _, err := r.Stat(ctx, prefix); err != nil {
			return nil, err
		}
		return nil, nil
	}
	return children(prefix, keys, recursive), nil
}

func (r *redisStore) Stat(ctx context.Context, key string) (certmagic.KeyInfo, error) {
	vals, err := r.c.HMGet(ctx, r.file(key), "v", "m").Result()
	if err != nil {
		return certmagic.KeyInfo{}, err
	}
	if v, ok := vals[0].(string); ok {
		info := certmagic.KeyInfo{Key: key, Size: int64(len(v)), IsTerminal: true}
		if m, ok := vals[1].(string); ok {
			if ns, err := strconv.ParseInt(m, 10, 64); err == nil {
				info.Modified = time.Unix(0, ns)
			}
		}
		return info, nil
	}
	keys, err := r.under(ctx, key, 1)
	if err != nil {
		return certmagic.KeyInfo{}, err
	}
	if len(keys) == 0 {
		return certmagic.KeyInfo{}, notExist(key)
	}
	return certmagic.KeyInfo{Key: key, IsTerminal: false}, nil
}

// refreshScript extends a lock only for its holder; unlockScript deletes
// it only for its holder.
var (
	refreshScript = redis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("PEXPIRE", KEYS[1], ARGV[2]) else return 0 end`)
	unlockScript  = redis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) else return 0 end`)
)

func (r *redisStore) Lock(ctx context.Context, name string) error {
	tok := token()
	key := r.lock(name)
	err := waitLock(ctx, r.o.LockPoll, func() (bool, error) {
		return r.c.SetNX(ctx, key, tok, r.o.LockTTL).Result()
	})
	if err != nil {
		return err
	}
	ms := r.o.LockTTL.Milliseconds()
	h := heldLock{token: tok, r: keepFresh(r.o.LockTTL/3, r.o.Log, name, func(ctx context.Context) (bool, error) {
		n, err := refreshScript.Run(ctx, r.c, []string{key}, tok, ms).Int()
		return err == nil && n == 1, err
	})}
	r.mu.Lock()
	r.held[name] = h
	r.mu.Unlock()
	return nil
}

func (r *redisStore) Unlock(ctx context.Context, name string) error {
	r.mu.Lock()
	h, ok := r.held[name]
	delete(r.held, name)
	r.mu.Unlock()
	if !ok {
		return fmt.Errorf("unlock %q: not held", name)
	}
	h.r.end()
	return unlockScript.Run(ctx, r.c, []string{r.lock(name)}, h.token).Err()
}
