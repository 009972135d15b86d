package i18n

import (
	"strings"

	"golang.org/x/text/language"
)

// matcher picks among our languages; English, tags[0], is its answer when
// nothing matches. It knows that de-AT and de-CH read German and pt-BR
// Portuguese, which a comparison of codes would not.
var matcher = language.NewMatcher(tags[:])

// maxAcceptLanguage bounds the part of an Accept-Language header that is
// parsed. Browsers send a few dozen bytes ("de-AT,de;q=0.9,en;q=0.8");
// a longer header is cut at its last comma within the bound, keeping the
// languages its sender prefers (browsers list them first).
const maxAcceptLanguage = 256

// maxLangParam bounds ?lang=: a language tag with a region and a script
// is a dozen bytes (RFC 5646 section 4.4.1 asks for 35 at most).
const maxLangParam = 35

// Negotiate returns the language of a request: param (?lang=), when it
// names a language we have, else the best match of acceptLanguage (the
// Accept-Language header, RFC 9110 section 12.5.4) by the x/text
// matcher, quality values included, else English. A header that does not
// parse is English: nothing of it is kept or shown.
func Negotiate(param, acceptLanguage string) Lang {
	if l, ok := MatchParam(param); ok {
		return l
	}
	return MatchHeader(acceptLanguage)
}

// MatchParam returns the language ?lang= asks for: a tag we have or one
// the matcher maps to it ("de-AT" is German), with any confidence above
// none. ok is false for an empty, over-long or unknown value.
func MatchParam(param string) (Lang, bool) {
	if param == "" || len(param) > maxLangParam {
		return English, false
	}
	if l, ok := ParseCode(param); ok {
		return l, true // the menu's own links: no parsing
	}
	t, err := language.Parse(param)
	if err != nil {
		return English, false
	}
	_, i, conf := matcher.Match(t)
	if conf == language.No {
		return English, false
	}
	return Lang(i), true
}

// MatchHeader returns the language an Accept-Language header prefers
// among ours, English when it names none of them or does not parse.
func MatchHeader(h string) Lang {
	if h == "" {
		return English
	}
	if len(h) > maxAcceptLanguage {
		i := strings.LastIndexByte(h[:maxAcceptLanguage], ',')
		if i < 0 {
			return English
		}
		h = h[:i]
	}
	prefs, _, err := language.ParseAcceptLanguage(h)
	if err != nil || len(prefs) == 0 {
		return English
	}
	_, i, conf := matcher.Match(prefs...)
	if conf == language.No {
		return English
	}
	return Lang(i)
}
