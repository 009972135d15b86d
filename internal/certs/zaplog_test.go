package certs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"go.uber.org/zap"
)

func TestZapLogger(t *testing.T) {
	var buf bytes.Buffer
	log := zapLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo})))
	log.Info("obtaining certificate", zap.String("identifier", "a.example"))
	log.Named("obtain").With(zap.Int("attempt", 2)).Error("will retry", zap.Error(errors.New("HTTP 400 rejectedIdentifier")))
	log.Error("job failed", zap.Error(fmt.Errorf("a.example: obtaining certificate: %w", context.Canceled)))
	got := buf.String()
	if strings.Contains(got, "obtaining certificate") {
		t.Errorf("certmagic's info lines logged at info:\n%s", got)
	}
	if !strings.Contains(got, `level=ERROR msg="will retry" attempt=2 component=certmagic logger=obtain error="HTTP 400 rejectedIdentifier"`) {
		t.Errorf("error line missing or malformed:\n%s", got)
	}
	if strings.Contains(got, "job failed") {
		t.Errorf("a cancelled job logged as an error:\n%s", got)
	}
}
