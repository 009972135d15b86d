package main

import (
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"

	"mailautoconf/provision"
)

// profileSigner loads the signer of Apple profiles from
// MAILAUTOCONF_SIGN_CERT and MAILAUTOCONF_SIGN_KEY, for serve. A bad,
// unreadable or mismatched pair is an error naming the file at fault, so
// the service does not start; with neither set the pointer stays empty,
// profiles are served unsigned and the log says so (iOS shows such a
// profile as "Not Verified"). MAILAUTOCONF_SIGN_WITH_TLS may fill the
// pointer later from the HTTPS certificate (serve_tls.go).
func profileSigner(s *Settings, log *slog.Logger) (*atomic.Pointer[provision.Signer], error) {
	var p atomic.Pointer[provision.Signer]
	signer, err := loadProfileSigner(s.SignCert, s.SignKey)
	if err != nil {
		return nil, err
	}
	switch {
	case signer != nil:
		p.Store(signer)
		log.Info("signing Apple profiles", "signer", signer.String())
	case s.SignWithTLS:
		log.Info("Apple profiles will be signed with the HTTPS certificate of " + s.PublicHost + "; unsigned until it is issued")
	default:
		log.Warn("Apple profiles are served unsigned: iOS and macOS show them as Not Verified (set " +
			envPrefix + "_SIGN_CERT and " + envPrefix + "_SIGN_KEY to sign them)")
	}
	return &p, nil
}

// loadProfileSigner returns the signer of a certificate/key file pair, nil
// when neither is set, and an error when only one is.
func loadProfileSigner(certFile, keyFile string) (*provision.Signer, error) {
	switch {
	case certFile == "" && keyFile == "":
		return nil, nil
	case certFile == "":
		return nil, fmt.Errorf("settings: %[1]s_SIGN_KEY is set but %[1]s_SIGN_CERT is not: profile signing needs both", envPrefix)
	case keyFile == "":
		return nil, fmt.Errorf("settings: %[1]s_SIGN_CERT is set but %[1]s_SIGN_KEY is not: profile signing needs both", envPrefix)
	}
	s, err := provision.LoadSigner(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("settings: Apple profile signing (%s_SIGN_CERT, %s_SIGN_KEY): %w", envPrefix, envPrefix, err)
	}
	return s, nil
}

// signRendered signs a profile for render --sign with the pair the
// environment names, as serve would.
func signRendered(profile []byte) ([]byte, error) {
	cert, key := os.Getenv(envPrefix+"_SIGN_CERT"), os.Getenv(envPrefix+"_SIGN_KEY")
	if cert == "" && key == "" {
		return nil, fmt.Errorf("--sign needs %[1]s_SIGN_CERT and %[1]s_SIGN_KEY", envPrefix)
	}
	s, err := loadProfileSigner(cert, key)
	if err != nil {
		return nil, err
	}
	return s.Sign(profile)
}
