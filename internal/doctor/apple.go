package doctor

// The Apple configuration profile reader (docs/apple-profiles.md): the MIME
// type Safari and iOS need, the CMS signature that makes the profile
// "Verified", and the keys com.apple.mail.managed requires.

import (
	"bytes"
	"crypto/x509"
	"fmt"
	"strings"
	"time"

	"github.com/smallstep/pkcs7"
	"howett.net/plist"
)

const (
	appleContentType = "application/x-apple-aspen-config"
	fixProfile       = "serve a .mobileconfig with a com.apple.mail.managed payload (docs/apple-profiles.md#mail-payload)"
)

// appleProfile reads a .mobileconfig answer: signed (CMS SignedData with
// the plist inside) or unsigned. An unsigned profile, or one whose signer
// does not chain to roots, installs as "Not Verified": a warning.
func appleProfile(contentType string, body []byte, roots *x509.CertPool, now time.Time) verdict {
	if !strings.HasPrefix(strings.ToLower(contentType), appleContentType) {
		return refuse(fmt.Sprintf("Content-Type %q: iOS and Safari install a profile only as %s", contentType, appleContentType), "serve the profile as "+appleContentType)
	}
	var v verdict
	content := body
	trimmed := bytes.TrimLeft(body, " \t\r\n\xef\xbb\xbf")
	if len(trimmed) > 0 && trimmed[0] == '<' {
		v.warnings = append(v.warnings, "unsigned: iOS and macOS show the profile as Not Verified")
	} else {
		p7, err := pkcs7.Parse(body)
		if err != nil {
			return refuse("neither a plist nor a CMS signed profile: "+err.Error(), fixProfile)
		}
		content = p7.Content
		if err := p7.VerifyWithChainAtTime(roots, now); err != nil {
			v.warnings = append(v.warnings, "signature does not verify to a trusted root ("+err.Error()+"): shown as Not Verified")
		}
	}
	var prof map[string]any
	if _, err := plist.Unmarshal(content, &prof); err != nil {
		return refuse("not a property list: "+err.Error(), fixProfile)
	}
	if s, _ := prof["PayloadType"].(string); s != "Configuration" {
		return refuse(fmt.Sprintf("top-level PayloadType %q is not Configuration", s), fixProfile)
	}
	if n, ok := plistInt(prof["PayloadVersion"]); !ok || n != 1 {
		return refuse("top-level PayloadVersion is not 1", fixProfile)
	}
	for _, k := range []string{"PayloadIdentifier", "PayloadUUID"} {
		if s, _ := prof[k].(string); s == "" {
			return refuse("top-level "+k+" missing", fixProfile)
		}
	}
	payloads, _ := prof["PayloadContent"].([]any)
	for _, p := range payloads {
		d, _ := p.(map[string]any)
		if t, _ := d["PayloadType"].(string); t != "com.apple.mail.managed" {
			continue
		}
		for _, k := range []string{"EmailAccountType", "IncomingMailServerHostName", "IncomingMailServerAuthentication", "OutgoingMailServerHostName", "OutgoingMailServerAuthentication", "PayloadIdentifier", "PayloadUUID"} {
			if s, _ := d[k].(string); s == "" {
				return refuse("mail payload without "+k, fixProfile)
			}
		}
		typ, _ := d["EmailAccountType"].(string)
		proto := map[string]string{"EmailTypeIMAP": "imap", "EmailTypePOP": "pop3"}[typ]
		if proto == "" {
			return refuse(fmt.Sprintf("EmailAccountType %q is not EmailTypeIMAP or EmailTypePOP", typ), fixProfile)
		}
		in := appleEndpoint(d, "Incoming", proto)
		out := appleEndpoint(d, "Outgoing", "smtp")
		for _, e := range []Endpoint{in, out} {
			if e.Socket == "plain" {
				v.warnings = append(v.warnings, fmt.Sprintf("%s without UseSSL: Mail sends the password in clear", e))
			}
		}
		v.ok, v.incoming, v.outgoing = true, &in, &out
		v.candidates = []Endpoint{in, out}
		return v
	}
	return refuse("no com.apple.mail.managed payload", fixProfile)
}

// defaultPorts are what Mail uses when the profile gives no port.
var defaultPorts = map[string][2]int{"imap": {143, 993}, "pop3": {110, 995}, "smtp": {587, 465}}

// appleEndpoint reads one side of a mail payload. UseSSL is one boolean
// for both TLS modes (docs/apple-profiles.md#the-tls-flag, [UNCONFIRMED]): with it, the
// port decides between implicit TLS and STARTTLS, as Thunderbird does.
func appleEndpoint(d map[string]any, side, proto string) Endpoint {
	e := Endpoint{Protocol: proto, Host: strings.ToLower(d[side+"MailServerHostName"].(string))}
	e.Username, _ = d[side+"MailServerUsername"].(string)
	ssl, _ := d[side+"MailServerUseSSL"].(bool)
	port, ok := plistInt(d[side+"MailServerPortNumber"])
	if !ok {
		port = defaultPorts[proto][0]
		if ssl {
			port = defaultPorts[proto][1]
		}
	}
	e.Port = port
	e.Socket = "plain"
	if ssl {
		e.Socket = autoSocket(port)
	}
	return e
}

func plistInt(v any) (int, bool) {
	switch n := v.(type) {
	case uint64:
		return int(n), n < 1<<31
	case int64:
		return int(n), n < 1<<31 && n > -1<<31
	}
	return 0, false
}
