package server

import (
	"fmt"
	"log/slog"
	"sync/atomic"

	"mailautoconf/internal/profilesign"
)

// profileSigner loads the signer of Apple profiles from cfg.SignCert and
// cfg.SignKey (MAILAUTOCONF_SIGN_CERT and _SIGN_KEY), for Run. A bad,
// unreadable or mismatched pair is an error naming the file at fault, so
// the service does not start; with neither set the pointer stays empty,
// profiles are served unsigned and the log says so (iOS shows such a
// profile as "Not Verified"). MAILAUTOCONF_SIGN_WITH_TLS may fill the
// pointer later from the HTTPS certificate (tls.go).
func profileSigner(cfg *Config, log *slog.Logger) (*atomic.Pointer[profilesign.Signer], error) {
	var p atomic.Pointer[profilesign.Signer]
	signer, err := SignerFromSettings(cfg)
	if err != nil {
		return nil, err
	}
	switch {
	case signer != nil:
		p.Store(signer)
		log.Info("signing Apple profiles", "signer", signer.String())
	case cfg.SignWithTLS:
		log.Info("Apple profiles will be signed with the HTTPS certificate of " + cfg.PublicHost + "; unsigned until it is issued")
	default:
		log.Warn("Apple profiles are served unsigned: iOS and macOS show them as Not Verified (set " +
			settingPrefix + "_SIGN_CERT and " + settingPrefix + "_SIGN_KEY to sign them)")
	}
	return &p, nil
}

// SignerFromSettings returns the signer of the pair cfg.SignCert and
// cfg.SignKey name (MAILAUTOCONF_SIGN_CERT and _SIGN_KEY), read with
// profilesign.Load; nil when neither is set, and an error naming the
// setting at fault when only one is or the pair is bad: what serve signs
// profiles with, and render --sign. It does not look at SignWithTLS.
func SignerFromSettings(cfg *Config) (*profilesign.Signer, error) {
	certFile, keyFile := cfg.SignCert, cfg.SignKey
	switch {
	case certFile == "" && keyFile == "":
		return nil, nil
	case certFile == "":
		return nil, fmt.Errorf("settings: %[1]s_SIGN_KEY is set but %[1]s_SIGN_CERT is not: profile signing needs both", settingPrefix)
	case keyFile == "":
		return nil, fmt.Errorf("settings: %[1]s_SIGN_CERT is set but %[1]s_SIGN_KEY is not: profile signing needs both", settingPrefix)
	}
	s, err := profilesign.Load(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("settings: Apple profile signing (%s_SIGN_CERT, %s_SIGN_KEY): %w", settingPrefix, settingPrefix, err)
	}
	return s, nil
}
