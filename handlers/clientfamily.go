package handlers

import (
	"strings"
)

// ClientFamily is a mail client family, guessed from a request for the
// metrics and the request log. The set is closed, so that it can be a
// metrics label: every guess is one of the constants below.
type ClientFamily string

const (
	ClientThunderbird ClientFamily = "thunderbird"
	// ClientK9 is K-9 Mail and Thunderbird for Android (the same app).
	ClientK9        ClientFamily = "k9"
	ClientOutlook   ClientFamily = "outlook"
	ClientApple     ClientFamily = "apple"
	ClientDeltaChat ClientFamily = "deltachat"
	ClientEvolution ClientFamily = "evolution"
	ClientKMail     ClientFamily = "kmail"
	ClientOther     ClientFamily = "other"
)

// ClientFamilies lists every family GuessClient can return.
var ClientFamilies = []ClientFamily{
	ClientThunderbird, ClientK9, ClientOutlook, ClientApple,
	ClientDeltaChat, ClientEvolution, ClientKMail, ClientOther,
}

// GuessClient guesses the client family of a request from its User-Agent
// header, its URL path and its raw query. It is a guess for statistics,
// never for answering differently: any client can send any User-Agent.
//
// What each client sends (docs/clients.md; the test table cites a source
// per string):
//   - Thunderbird: a Gecko User-Agent ending in "Thunderbird/<version>".
//   - Thunderbird for Android / K-9: OkHttp's default "okhttp/<version>";
//     the app sets no User-Agent of its own.
//   - Outlook: "Microsoft Office/<v> (... Microsoft Outlook ...)", and
//     "Outlook..." names for the mobile apps and Microsoft's cloud
//     AutoDetect service.
//   - Apple: "iOS/<v> (<build>) accountsd/1.0", "Mac OS X/<v> ...; Mail/<v>",
//     "Apple-iPhone<model>/<build>" (Exchange ActiveSync), and any fetch of
//     a .mobileconfig profile.
//   - Delta Chat (chatmail core): no User-Agent at all.
//   - Evolution: "Evolution/<version>", and it alone sends emailmd5.
//   - KMail: Qt's default "Mozilla/5.0", nothing more.
func GuessClient(userAgent, path, rawQuery string) ClientFamily {
	ua := strings.TrimSpace(userAgent)
	lower := strings.ToLower(ua)
	autoconfig := hasSuffixFold(path, "/config-v1.1.xml") || hasPrefixFold(path, "/v1.1/")
	autodiscover := hasPrefixFold(path, "/autodiscover/")

	switch {
	case strings.Contains(lower, "thunderbird/") || strings.Contains(lower, "betterbird/"):
		// Thunderbird desktop and its Betterbird rebuild. Checked
		// before "mozilla" rules: the string starts "Mozilla/5.0 (".
		return ClientThunderbird
	case strings.Contains(lower, "k-9") || strings.Contains(lower, "k9mail") ||
		strings.Contains(lower, "net.thunderbird.android"):
		return ClientK9
	case strings.HasPrefix(lower, "okhttp/") && autoconfig:
		// OkHttp's bare default: on an autoconfig URL that is
		// Thunderbird for Android. Other OkHttp apps stay "other".
		return ClientK9
	case strings.HasPrefix(lower, "microsoft office/") || strings.Contains(lower, "outlook"):
		return ClientOutlook
	case strings.HasPrefix(lower, "ios/") || strings.HasPrefix(lower, "macos/") ||
		strings.HasPrefix(lower, "mac os x/") || strings.HasPrefix(lower, "mac_os_x/") ||
		strings.HasPrefix(lower, "apple-iphone") || strings.HasPrefix(lower, "apple-ipad") ||
		strings.Contains(lower, "accountsd/") || strings.Contains(lower, "dataaccessd/"):
		return ClientApple
	case hasSuffixFold(path, ".mobileconfig"):
		// Only Apple devices install profiles, whatever browser
		// fetched it.
		return ClientApple
	case strings.Contains(lower, "deltachat") || strings.Contains(lower, "delta chat") ||
		strings.HasPrefix(lower, "chatmail/"):
		return ClientDeltaChat
	case ua == "" && (autoconfig || autodiscover):
		// chatmail core sends no User-Agent (src/net/http.rs); every
		// other client here names itself.
		return ClientDeltaChat
	case strings.HasPrefix(lower, "evolution/"):
		return ClientEvolution
	case autoconfig && hasQueryValue(rawQuery, "emailmd5"):
		return ClientEvolution
	case strings.Contains(lower, "kmail") || strings.Contains(lower, "akonadi"):
		return ClientKMail
	case ua == "Mozilla/5.0" && autoconfig:
		// Qt's default, which the KMail account wizard does not
		// override; browsers always add a platform comment.
		return ClientKMail
	}
	return ClientOther
}

// hasPrefixFold is strings.HasPrefix in any letter case (ASCII prefix).
func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// hasSuffixFold is strings.HasSuffix in any letter case (ASCII suffix).
func hasSuffixFold(s, suffix string) bool {
	return len(s) >= len(suffix) && strings.EqualFold(s[len(s)-len(suffix):], suffix)
}
