// scratch experiment, not committed
package main

import (
	"flag"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"

	"mailautoconf/handlers"
	"mailautoconf/provision"
)

func main() {
	mode := flag.String("mode", "ceil", "")
	listen := flag.String("listen", "", "")
	file := flag.String("file", "", "")
	flag.Parse()
	body, _ := os.ReadFile(*file)
	var h http.Handler
	switch *mode {
	case "ceil":
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/xml; charset=utf-8")
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			w.Write(body)
		})
	case "ceil4":
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Cache-Control", "public, max-age=3600")
			w.Header().Set("Content-Type", "application/xml; charset=utf-8")
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			w.Header().Set("Vary", "User-Agent")
			w.Write(body)
		})
	case "echo":
		e := echo.New()
		e.GET("/mail/config-v1.1.xml", func(c echo.Context) error {
			c.Response().Header().Set("Content-Length", strconv.Itoa(len(body)))
			return c.Blob(200, "application/xml; charset=utf-8", body)
		})
		h = e
	case "echomw":
		e := echo.New()
		e.Use(func(next echo.HandlerFunc) echo.HandlerFunc {
			return func(c echo.Context) error {
				start := time.Now()
				err := next(c)
				_ = time.Since(start)
				return err
			}
		})
		e.GET("/mail/config-v1.1.xml", func(c echo.Context) error {
			c.Response().Header().Set("Content-Length", strconv.Itoa(len(body)))
			return c.Blob(200, "application/xml; charset=utf-8", body)
		})
		h = e
	case "router", "routernolog":
		cat, err := provision.LoadOrDemo("")
		if err != nil {
			log.Fatal(err)
		}
		var cur atomic.Pointer[provision.Catalog]
		cur.Store(cat)
		lg := slog.New(slog.NewTextHandler(io.Discard, nil))
		hc := handlers.Config{Catalog: &cur, Log: lg, Metrics: handlers.NewMetrics()}
		if *mode == "router" {
			hc.RequestLog = handlers.NewRequestLog(os.Stderr, "text", slog.LevelInfo)
		}
		h = handlers.New(hc).Router()
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 10 * time.Second, IdleTimeout: 15 * time.Second, MaxHeaderBytes: 12 << 10}
	log.Fatal(srv.Serve(ln))
}
