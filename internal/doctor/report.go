package doctor

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"unicode"
)

// WriteText prints the report for a person: one table, client by client,
// with the reason and the fix; then the DNS, certificate and endpoint
// checks; with verbose, every step each client took.
func (rep *Report) WriteText(w io.Writer, verbose bool) error {
	b := &strings.Builder{}
	fmt.Fprintf(b, "mailautoconf doctor %s\n\n", rep.Address)
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CLIENT\tRESULT\tREASON")
	for _, c := range rep.Clients {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", c.Name, strings.ToUpper(string(c.Status)), oneLine(c.Reason))
		if c.Fix != "" && c.Status != Pass {
			fmt.Fprintf(tw, "\t\tfix: %s\n", oneLine(c.Fix))
		}
	}
	tw.Flush()

	fmt.Fprintln(b, "\nDNS")
	tw = tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
	for _, f := range rep.DNS {
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", f.Name, strings.ToUpper(string(f.Status)), oneLine(f.Detail))
		if f.Fix != "" {
			fmt.Fprintf(tw, "  \t\tfix: %s\n", oneLine(f.Fix))
		}
	}
	tw.Flush()

	fmt.Fprintln(b, "\nCertificates (HTTPS)")
	tw = tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
	for _, c := range rep.Certificates {
		status, detail := c.Judge()
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", c.Host, strings.ToUpper(string(status)), oneLine(detail))
	}
	tw.Flush()

	fmt.Fprintln(b, "\nMail servers (connect and TLS mode only, no login)")
	tw = tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
	for _, e := range rep.Endpoints {
		status, detail := Pass, "ok"
		if !e.OK {
			status, detail = Fail, e.Problem
		} else if e.Cert != nil && e.Cert.DaysLeft < expiryWarnDays {
			status, detail = Warn, fmt.Sprintf("certificate expires in %d days", e.Cert.DaysLeft)
		} else if e.Socket == "plain" {
			status, detail = Warn, "no TLS"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s (%d ms)\n", e.Endpoint, strings.ToUpper(string(status)), oneLine(detail), e.Millis)
	}
	tw.Flush()

	if verbose {
		for _, c := range rep.Clients {
			fmt.Fprintf(b, "\n%s: %s\n", c.Name, strings.ToUpper(string(c.Status)))
			for _, s := range c.Steps {
				fmt.Fprintf(b, "  %s %s\n      -> %s (%d ms", s.Method, oneLine(s.URL), oneLine(s.Result), s.Millis)
				if s.Status != 0 {
					fmt.Fprintf(b, ", HTTP %d", s.Status)
				}
				if s.ContentType != "" {
					fmt.Fprintf(b, ", %s", oneLine(s.ContentType))
				}
				b.WriteString(")\n")
				for _, rd := range s.Redirects {
					fmt.Fprintf(b, "      redirected to %s\n", oneLine(rd))
				}
			}
			for _, n := range c.Notes {
				fmt.Fprintf(b, "  note: %s\n", oneLine(n))
			}
			if c.Source != "" {
				fmt.Fprintf(b, "  used: %s\n", oneLine(c.Source))
			}
		}
		fmt.Fprintln(b, "\nCertificate chains")
		for _, c := range rep.Certificates {
			if c.Err != "" {
				continue
			}
			fmt.Fprintf(b, "  %s: names %s; chain %s; not after %s\n", c.Host, oneLine(strings.Join(c.Names, ", ")), oneLine(strings.Join(c.Chain, " <- ")), c.NotAfter)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// Judge rates a certificate: a refused one fails, one under 21 days
// warns, a name that does not answer HTTPS at all is information (the
// bare domain is often someone else's web site).
func (c CertInfo) Judge() (Status, string) {
	switch {
	case c.Err != "":
		return Info, "no HTTPS: " + c.Err
	case c.Problem != "":
		return Fail, fmt.Sprintf("%s (issuer %s, not after %s)", c.Problem, c.Issuer, c.NotAfter)
	case c.DaysLeft < expiryWarnDays:
		return Warn, fmt.Sprintf("expires in %d days (issuer %s): renewal is failing", c.DaysLeft, c.Issuer)
	}
	return Pass, fmt.Sprintf("valid %d more days, issuer %s", c.DaysLeft, c.Issuer)
}

// oneLine puts s on one line and replaces control characters: reasons
// quote what arbitrary servers sent, and a terminal must not interpret it.
func oneLine(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) && r != '\t' && r != '\n' && r != '\r' || r == '\u2028' || r == '\u2029' || unicode.Is(unicode.Bidi_Control, r) {
			return '?'
		}
		return r
	}, s)
	return strings.Join(strings.Fields(s), " ")
}

// WriteJSON prints the report for machines.
func (rep *Report) WriteJSON(w io.Writer) error {
	out := struct {
		*Report
		Failed bool `json:"failed"`
	}{rep, rep.Failed()}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
