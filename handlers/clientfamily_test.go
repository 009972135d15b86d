package handlers

import (
	"slices"
	"testing"
)

// TestGuessClient: real User-Agent strings of each client, as the facts
// they are, each with where it was seen.
func TestGuessClient(t *testing.T) {
	const (
		autoconfig   = "/mail/config-v1.1.xml"
		wellKnown    = "/.well-known/autoconfig/mail/config-v1.1.xml"
		autodiscover = "/autodiscover/autodiscover.xml"
		adJSON       = "/autodiscover/autodiscover.json"
		profile      = "/profile/example.com.mobileconfig"
	)
	tests := []struct {
		ua, path, query string
		want            ClientFamily
	}{
		// Thunderbird desktop: User-Agent headers of Thunderbird mails
		// on the Linux kernel lists (lore.kernel.org; Thunderbird sends
		// the same string on HTTP), and a Linux one from a public
		// classifier's tests.
		{"Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:102.0) Gecko/20100101 Thunderbird/102.5.1", autoconfig, "emailaddress=alice%40example.com", ClientThunderbird},
		{"Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:102.0) Gecko/20100101 Thunderbird/102.14.0", wellKnown, "", ClientThunderbird},
		{"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Thunderbird/128.3.0", autodiscover, "", ClientThunderbird},
		// Older Thunderbird (Debian's icedove pref file in Tails quotes it).
		{"Mozilla/5.0 (Windows; U; Windows NT 6.1; en-US; rv:1.9.1.9) Gecko/20100317 Thunderbird/3.0.4", autoconfig, "", ClientThunderbird},

		// Thunderbird for Android / K-9: rseichter/automx2 issue #27
		// (2024), "GET /mail/config-v1.1.xml" from "okhttp/4.12.0";
		// OkHttpFetcher.kt sets no User-Agent.
		{"okhttp/4.12.0", autoconfig, "", ClientK9},
		{"okhttp/4.12.0", wellKnown, "", ClientK9},
		// The same library elsewhere is some other app.
		{"okhttp/4.9.2", "/", "", ClientOther},

		// Outlook: mailcow-dockerized PR #1070 (Outlook 2016), mjl-/mox
		// issue #200 (autodiscover.json, 2024), gronke/email-autodiscover
		// issue #4 (Microsoft's cloud AutoDetect for Outlook mobile).
		{"Microsoft Office/16.0 (Windows NT 10.0; MAPI 16.0.9001; Pro)", autodiscover, "", ClientOutlook},
		{"Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17726; Pro)", adJSON + "/v1.0/me@example.com", "Protocol=Autodiscoverv1&RedirectCount=1", ClientOutlook},
		{"OutlookMobileCloudService-Autodetect/1.0.0", adJSON, "Email=user%40example.org&Protocol=ActiveSync&RedirectCount=1", ClientOutlook},

		// Apple: iOS account setup "iOS/15.6.1 (19G82) accountsd/1.0"
		// (a Baikal access log quoted in a public write-up), iOS
		// Settings "iOS/6.1.4 (10B350) Preferences/1.0" (sabre-io/Baikal
		// issue #100), "iOS/7.1.1 (…) dataaccessd/1.0" (browscap issue
		// #382, build number hidden there; 11D201 is 7.1.1's), Exchange ActiveSync "Apple-iPhone9C4/1602.92"
		// (ua-parser/uap-core issue #362), Mail.app's EWS client (a
		// public list of observed User-Agents).
		{"iOS/15.6.1 (19G82) accountsd/1.0", autodiscover, "", ClientApple},
		{"iOS/6.1.4 (10B350) Preferences/1.0", autodiscover, "", ClientApple},
		{"iOS/7.1.1 (11D201) dataaccessd/1.0", adJSON, "Email=a%40example.org&Protocol=EWS", ClientApple},
		{"Apple-iPhone9C4/1602.92", autodiscover, "", ClientApple},
		{"Mac OS X/10.6.8 (10K549); ExchangeWebServices/1.3 (61); Mail/4.6 (1085)", autodiscover, "", ClientApple},
		// A profile fetched by Safari on an iPhone (iOS 17.4 Safari's
		// User-Agent) is for Apple Mail.
		{"Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1", profile, "", ClientApple},

		// Delta Chat: chatmail/core src/net/http.rs "By default we do not
		// set User-Agent"; it GETs autoconfig and autodiscover.xml.
		{"", autoconfig, "emailaddress=alice%40example.org", ClientDeltaChat},
		{"", wellKnown, "", ClientDeltaChat},
		{"", autodiscover, "", ClientDeltaChat},
		// No User-Agent on another path says nothing.
		{"", "/healthz", "", ClientOther},

		// Evolution: e-mail-autoconfig.c (GNOME/evolution 6901b223) sets
		// "Evolution/" VERSION VERSION_SUBSTRING " " VERSION_COMMENT and
		// sends emailmd5; the strings are built by that format (an empty
		// and a distribution comment). With another User-Agent the
		// emailmd5 parameter alone decides.
		{"Evolution/3.52.4 ", autoconfig, "emailaddress=a%40example.org&emailmd5=0cba00ca3da1b283a57287bcceb17e35", ClientEvolution},
		{"Evolution/3.56.2 (Debian)", autoconfig, "", ClientEvolution},
		{"libsoup/3.4.4", autoconfig, "emailaddress=a%40example.org&EmailMD5=0cba00ca3da1b283a57287bcceb17e35", ClientEvolution},

		// KMail account wizard: ispdbservice.cpp sets no User-Agent, and
		// Qt's QHttpNetworkConnectionPrivate::prepareRequest then sends
		// exactly "Mozilla/5.0".
		{"Mozilla/5.0", autoconfig, "", ClientKMail},
		{"Mozilla/5.0", wellKnown, "", ClientKMail},

		// Browsers and scanners are "other".
		{"Mozilla/5.0", "/", "", ClientOther},
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/80.0.3987.149 Safari/537.36", autoconfig, "", ClientOther},
		{"curl/8.5.0", autoconfig, "emailaddress=a@example.org", ClientOther},
		{"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "/", "", ClientOther},
	}
	for _, tt := range tests {
		got := GuessClient(tt.ua, tt.path, tt.query)
		if got != tt.want {
			t.Errorf("GuessClient(%q, %q, %q) = %s, want %s", tt.ua, tt.path, tt.query, got, tt.want)
		}
	}
	// Every family is covered by the table.
	for _, f := range ClientFamilies {
		if !slices.ContainsFunc(tests, func(tt struct {
			ua, path, query string
			want            ClientFamily
		}) bool {
			return tt.want == f
		}) {
			t.Errorf("no table case for %s", f)
		}
	}
}

// FuzzGuessClient: any input gives one of the listed families, so that
// the metrics label stays bounded.
func FuzzGuessClient(f *testing.F) {
	f.Add("okhttp/4.12.0", "/mail/config-v1.1.xml", "")
	f.Add("", "/autodiscover/autodiscover.xml", "x=%zz")
	f.Add("Evolution/3.52.4 ", "/mail/config-v1.1.xml", "emailmd5=1;emailmd5=2")
	f.Fuzz(func(t *testing.T, ua, path, query string) {
		if got := GuessClient(ua, path, query); !slices.Contains(ClientFamilies, got) {
			t.Fatalf("GuessClient(%q, %q, %q) = %q, not a listed family", ua, path, query, got)
		}
	})
}
