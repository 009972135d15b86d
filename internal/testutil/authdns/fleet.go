package authdns

import (
	"fmt"
	"net/netip"
	"strings"

	"mailautoconf/internal/dnscheck"
	"mailautoconf/internal/dnsrecords"
	"mailautoconf/provision"
)

// Fault is what a fleet domain gets wrong in DNS.
type Fault uint8

// The faults a fleet plants, by fraction of its domains (FaultOf).
const (
	// Correct: every record as dnsrecords.Derive gives it.
	Correct Fault = iota
	// NoAutoconfig: autoconfig.<d> is not published (10%).
	NoAutoconfig
	// Elsewhere: autoconfig.<d> is an A record of another address,
	// OtherAddr, where no service answers (5%).
	Elsewhere
	// StaleM365: autodiscover.<d> is still a CNAME to Microsoft 365's
	// autodiscover.outlook.com. (3%).
	StaleM365
	// StalePACC: _ua-auto-config.<d> holds a digest of another document
	// (2%).
	StalePACC
)

var faultNames = [...]string{"correct", "no-autoconfig", "elsewhere", "stale-m365", "stale-pacc"}

func (f Fault) String() string {
	if int(f) < len(faultNames) {
		return faultNames[f]
	}
	return fmt.Sprintf("Fault(%d)", f)
}

// FaultOf is the fault of the fleet's domain number i (from 0): of each
// hundred, 10 NoAutoconfig, 5 Elsewhere, 3 StaleM365, 2 StalePACC, and 80
// Correct.
func FaultOf(i int) Fault {
	switch k := i % 100; {
	case k < 10:
		return NoAutoconfig
	case k < 15:
		return Elsewhere
	case k < 18:
		return StaleM365
	case k < 20:
		return StalePACC
	}
	return Correct
}

// The fleet's fixed names and addresses.
const (
	// FleetPublicHost is the service's public host (the CNAME target),
	// in the zone hoster.test the fleet's server holds, with the address
	// FleetPublicAddr.
	FleetPublicHost = "autoconfig.hoster.test"
	// FleetZone is the zone under which every customer domain is:
	// c0001.example, c0002.example, ...
	FleetZone = "example"
	// StaleM365Target is where StaleM365's autodiscover.<d> leads.
	StaleM365Target = "autodiscover.outlook.com."
)

var (
	// FleetPublicAddr is the address of FleetPublicHost.
	FleetPublicAddr = netip.MustParseAddr("127.0.0.1")
	// OtherAddr is the address Elsewhere's autoconfig.<d> has: on
	// loopback, so that a probe of it is refused at once.
	OtherAddr = netip.MustParseAddr("127.0.0.2")
)

// fleetProvider is the fleet's one provider; its servers use implicit
// TLS on the standard ports, so that it has a PACC document
// (docs/pacc.md#pacc), and a CalDAV URL, for the DAV SRV and TXT.
const fleetProvider = `providers:
  - id: mail.hoster.test
    display_name: Fleet Mail
    domains: [%s]
    incoming:
      - {protocol: imap, host: imap.hoster.test, port: 993, security: tls}
    outgoing:
      - {protocol: smtp, host: smtp.hoster.test, port: 465, security: tls}
    caldav: https://dav.hoster.test/cal/
`

// Fleet is a hoster's customer domains, each with its DNS records as
// published (Zones) and the state dnscheck must find of each record
// (Want).
type Fleet struct {
	// Domains are c0001.example, c0002.example, ... in order.
	Domains []string
	// Faults[i] is what Domains[i] gets wrong.
	Faults []Fault
	// CatalogYAML is a catalog serving every domain by one provider;
	// Catalog is it parsed.
	CatalogYAML []byte
	Catalog     *provision.Catalog
	// Records[i] are dnsrecords.Derive's records of Domains[i] with the
	// target FleetPublicHost: what `dns --check` expects.
	Records []dnsrecords.Domain
	// Want[i][j] is the state of Records[i].Records[j] a check against
	// the fleet's server finds.
	Want [][]dnscheck.State
	// Zones are the zone files of the fleet's server: hoster.test (the
	// public host), example (the customers) and outlook.com (where the
	// stale Autodiscover names lead).
	Zones []Zone
}

// NewFleet generates n customer domains (n up to 9,999) with faults
// planted by FaultOf.
func NewFleet(n int) *Fleet {
	f := &Fleet{}
	for i := range n {
		f.Domains = append(f.Domains, fmt.Sprintf("c%04d.%s", i+1, FleetZone))
		f.Faults = append(f.Faults, FaultOf(i))
	}
	f.CatalogYAML = fmt.Appendf(nil, fleetProvider, strings.Join(f.Domains, ", "))
	cat, err := provision.Parse(provision.Source{Name: "fleet catalog", Data: f.CatalogYAML})
	if err != nil {
		panic("authdns: fleet catalog: " + err.Error())
	}
	f.Catalog = cat

	var customers []string
	for i, d := range f.Domains {
		p, err := cat.Lookup(d)
		if err != nil {
			panic("authdns: fleet catalog: " + err.Error())
		}
		if provision.PACCDigest(p) == "" {
			panic("authdns: the fleet's provider has no PACC document")
		}
		recs := dnsrecords.Derive(p, d, dnsrecords.Target{Host: FleetPublicHost})
		want := make([]dnscheck.State, len(recs.Records))
		for j, r := range recs.Records {
			line, state := publish(d, r, f.Faults[i])
			want[j] = state
			if line != "" {
				customers = append(customers, line)
			}
		}
		f.Records = append(f.Records, recs)
		f.Want = append(f.Want, want)
	}
	f.Zones = []Zone{
		{Origin: FleetZone + ".", Text: ZoneText(FleetZone, customers...)},
		{Origin: "hoster.test.", Text: ZoneText("hoster.test",
			FleetPublicHost+". 300 IN A "+FleetPublicAddr.String(),
			"imap.hoster.test. 300 IN A 127.0.0.1",
			"smtp.hoster.test. 300 IN A 127.0.0.1",
			"dav.hoster.test. 300 IN A 127.0.0.1")},
		{Origin: "outlook.com.", Text: ZoneText("outlook.com",
			StaleM365Target+" 300 IN A 192.0.2.200")},
	}
	return f
}

// publish is the zone line of record r of domain d with fault f ("":
// not published), and the state a check finds of it.
func publish(d string, r dnsrecords.Record, f Fault) (string, dnscheck.State) {
	line := r.Name + " 300 IN " + r.Type + " " + r.Data
	switch {
	case f == NoAutoconfig && r.Name == "autoconfig."+d+".":
		return "", dnscheck.Missing
	case f == Elsewhere && r.Name == "autoconfig."+d+".":
		return r.Name + " 300 IN A " + OtherAddr.String(), dnscheck.Drift
	case f == StaleM365 && r.Name == "autodiscover."+d+".":
		return r.Name + " 300 IN CNAME " + StaleM365Target, dnscheck.Conflict
	case f == StalePACC && r.Type == "TXT" && r.Name == "_ua-auto-config."+d+".":
		stale := provision.PACCDigestOf([]byte("an older document of " + d))
		return r.Name + ` 300 IN TXT "` + stale + `"`, dnscheck.Drift
	}
	return line, dnscheck.OK
}

// Counts are how many records of the fleet are in each state, by state.
func (f *Fleet) Counts() map[dnscheck.State]int {
	out := map[dnscheck.State]int{}
	for _, w := range f.Want {
		for _, s := range w {
			out[s]++
		}
	}
	return out
}

// DomainState is the state dnscheck gives Domains[i]: its worst record's
// (an optional record missing counts as ok; the fleet plants none).
func (f *Fleet) DomainState(i int) dnscheck.State {
	worst := dnscheck.OK
	for j, s := range f.Want[i] {
		if dnscheck.Counts(f.Records[i].Records[j], s) && s > worst {
			worst = s
		}
	}
	return worst
}
