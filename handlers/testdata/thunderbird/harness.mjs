#!/usr/bin/env node
// Runs Thunderbird's own account-setup code (FetchConfig, readFromXML,
// ExchangeAutoDiscover, FindConfig, AccountConfig, loaded at run time from
// an installed Thunderbird's omni.ja) on a document or against a test
// server, and prints the resulting AccountConfig as JSON. See README.md.

import { accessSync, constants, readFileSync } from "node:fs";
import { STATUS_CODES } from "node:http";
import { register } from "node:module";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";

const here = dirname(fileURLToPath(import.meta.url));

const usage = `usage: node harness.mjs --email ADDR [options] [FILE|-]
       node harness.mjs --serve

Replays FILE (or stdin) as the HTTP response Thunderbird gets from the first
URL of the lookup, or with --live asks a test server, and prints JSON:
{thunderbird, lookup, accepted, error, errors, config, confirmations,
requests, log}.

  --lookup KIND       isp (default): FetchConfig.fromISP, the autoconfig URLs
                      db: FetchConfig.fromDB, the ISPDB URL (pref mailnews.auto_config_url)
                      exchange: ExchangeAutoDiscover.fetchConfigFromExchange
                      discover: FindConfig.parallelAutoDiscovery, all of them (--live only)
  --email ADDR        the address typed into the account hub
  --realname NAME     the name typed into the account hub (default "Alice Example")
  --password PW       the password typed into the account hub (default "harness-password")
  --status N          replayed HTTP status (default 200)
  --content-type T    replayed Content-Type (default "text/xml; charset=utf-8")
  --live URL          send requests for <domain>, autoconfig.<domain> and
                      autodiscover.<domain> (and for URL's own host) to the
                      plain-HTTP server at URL, keeping their Host header
  --live-https URL    with --live, send https:// requests to this server
                      instead (as plain HTTP), e.g. when the service's HTTPS
                      and plain-HTTP listeners route differently
  --host NAME         with --live, also send requests for NAME to the server
  --no-https          with --live, https:// URLs on the mail domain's own names
                      are unreachable (no certificate for the customer domain)
  --accept-redirects  say yes when Autodiscover asks before sending the
                      password to another domain (default: decline)
  --pref NAME=VALUE   override a default pref (VALUE is JSON, else a string)
  --omni PATH         Thunderbird's omni.ja (default $THUNDERBIRD_OMNI, then
                      /usr/lib/thunderbird/omni.ja)
  --check             only load the modules and print {thunderbird, ok}
  --serve             run many lookups: read one JSON job per line from stdin,
                      {"args": [options...], "body": "<base64 document>"},
                      and answer each with one line of JSON; a job the
                      harness cannot run gets {"harnessError": "..."}
`;

/** A problem with the harness's input or setup, not Thunderbird's verdict. */
class HarnessError extends Error {}

const options = {
  lookup: { type: "string", default: "isp" },
  email: { type: "string" },
  realname: { type: "string", default: "Alice Example" },
  password: { type: "string", default: "harness-password" },
  status: { type: "string", default: "200" },
  "content-type": { type: "string", default: "text/xml; charset=utf-8" },
  live: { type: "string" },
  "live-https": { type: "string" },
  host: { type: "string", multiple: true, default: [] },
  "no-https": { type: "boolean", default: false },
  "accept-redirects": { type: "boolean", default: false },
  pref: { type: "string", multiple: true, default: [] },
  omni: { type: "string" },
  check: { type: "boolean", default: false },
  serve: { type: "boolean", default: false },
  help: { type: "boolean", default: false },
};

function parse(args) {
  try {
    return parseArgs({ args, options, allowPositionals: true });
  } catch (e) {
    throw new HarnessError(e.message);
  }
}

let main;
try {
  main = parse(process.argv.slice(2));
} catch (e) {
  process.stderr.write(`harness: ${e.message}\n${usage}`);
  process.exit(2);
}
if (main.values.help) {
  process.stdout.write(usage);
  process.exit(0);
}

const omni = main.values.omni ?? process.env.THUNDERBIRD_OMNI ?? "/usr/lib/thunderbird/omni.ja";
try {
  accessSync(omni, constants.R_OK);
} catch (e) {
  process.stderr.write(`harness: cannot read Thunderbird's omni.ja: ${e.message}\n`);
  process.exit(2);
}
let version;
try {
  const ini = readFileSync(join(dirname(omni), "application.ini"), "utf8");
  version = /^Version=(.*)$/m.exec(ini)?.[1]?.trim();
} catch {}

// ---- loading Thunderbird ---------------------------------------------------

// Platform modules the harness replaces (see stubs/); every other module
// comes from omni.ja unchanged.
const stub = name => pathToFileURL(join(here, "stubs", name)).href;
register(pathToFileURL(join(here, "lib", "hooks.mjs")), {
  data: {
    omni,
    stubs: {
      "modules/DNS.sys.mjs": stub("DNS.mjs"),
      "modules/OAuth2Module.sys.mjs": stub("OAuth2Module.mjs"),
      "modules/Timer.sys.mjs": stub("Timer.mjs"),
      "modules/AddonManager.sys.mjs": stub("AddonManager.mjs"),
      "modules/accountcreation/GuessConfig.sys.mjs": stub("GuessConfig.mjs"),
    },
  },
});

const { drainLog, importModule, install } = await import("./lib/gecko.mjs");
const { liveRoute, makeXHR, replayRoute } = await import("./lib/network.mjs");

// The job whose requests new XMLHttpRequests belong to.
let job = { route: async () => Promise.reject(new Error("harness: no job")), requests: [] };
const major = (version ?? "0").split(".")[0];
const userAgent = `Mozilla/5.0 (X11; Linux x86_64; rv:${major}.0) Gecko/20100101 Thunderbird/${version}`;
const { withPrefs } = install({ omni, XMLHttpRequest: makeXHR(() => job, userAgent) });

const M = "resource:///modules/accountcreation/";
const { AccountConfig } = await importModule(M + "AccountConfig.sys.mjs");
const { FetchConfig } = await importModule(M + "FetchConfig.sys.mjs");
const { fetchConfigFromExchange } = await importModule(M + "ExchangeAutoDiscover.sys.mjs");
const { FindConfig } = await importModule(M + "FindConfig.sys.mjs");
await importModule(M + "readFromXML.sys.mjs");
drainLog();

// ---- one lookup ------------------------------------------------------------------

const socketTypes = { [-1]: null, 0: "plain", 1: "trySTARTTLS", 2: "STARTTLS", 3: "SSL" };
// Autoconfig's names for Ci.nsMsgAuthMethod values.
const auths = {
  0: null,
  1: "none",
  2: "old",
  3: "password-cleartext",
  4: "password-encrypted",
  5: "GSSAPI",
  6: "NTLM",
  7: "TLS-client-cert",
  8: "secure",
  9: "anything",
  10: "OAuth2",
};

function server(s) {
  const out = {
    type: s.type,
    hostname: s.hostname,
    port: s.port,
    socketType: socketTypes[s.socketType] ?? `unknown(${s.socketType})`,
    auth: auths[s.auth] ?? `unknown(${s.auth})`,
    username: s.username,
  };
  for (const k of ["useGlobalPreferredServer", "exchangeURL", "owaURL", "easURL", "url"]) {
    if (s[k]) {
      out[k] = s[k];
    }
  }
  return out;
}

function describe(config) {
  return {
    source: config.source,
    subSource: config.subSource,
    id: config.id,
    displayName: config.displayName,
    domains: config.domains,
    isComplete: config.isComplete(),
    incoming: server(config.incoming),
    incomingAlternatives: config.incomingAlternatives.map(server),
    outgoing: server(config.outgoing),
    outgoingAlternatives: config.outgoingAlternatives.map(server),
  };
}

function errorText(e) {
  if (e instanceof Error) {
    const code = e.code !== undefined ? ` (code ${e.code}${e.url ? ", " + e.url : ""})` : "";
    return e.message + code;
  }
  return String(e);
}

function prefOverrides(list) {
  const prefs = {};
  for (const p of list) {
    const i = p.indexOf("=");
    if (i < 1) {
      throw new HarnessError(`--pref ${p}: want NAME=VALUE`);
    }
    let v = p.slice(i + 1);
    try {
      v = JSON.parse(v);
    } catch {}
    prefs[p.slice(0, i)] = v;
  }
  return prefs;
}

// lookup runs one lookup as the options say; body is the document to
// replay (a Buffer), unused with --live.
async function lookup(opts, body) {
  if (!opts.email) {
    throw new HarnessError("--email is required");
  }
  const email = opts.email;
  const domain = email.split("@").pop().toLowerCase();
  const signal = new AbortController().signal;
  const confirmations = [];
  // Autodiscover asks the user before sending credentials to another
  // domain (after a redirect or an SRV record). The harness records the
  // question and answers it as told.
  const confirm = async (host, scheme) => {
    confirmations.push(`${scheme}://${host}`);
    if (!opts["accept-redirects"]) {
      throw new Error(`harness declined sending credentials to ${host}`);
    }
  };
  const ispdb = () => {
    const url = Services.prefs.getCharPref("mailnews.auto_config_url");
    return url.includes("{{domain}}") ? url.replace("{{domain}}", domain) : url + domain;
  };
  const lookups = {
    isp: {
      url: () => `https://autoconfig.${domain}/mail/config-v1.1.xml`,
      run: () => FetchConfig.fromISP(domain, email, signal),
    },
    db: {
      url: ispdb,
      run: () => FetchConfig.fromDB(domain, signal),
    },
    exchange: {
      url: () => `https://autodiscover.${domain}/autodiscover/autodiscover.xml`,
      run: () => fetchConfigFromExchange(domain, email, signal, null, opts.password, confirm),
    },
    discover: {
      async run() {
        const gen = FindConfig.parallelAutoDiscovery(domain, email, signal, opts.password, null);
        let step = await gen.next();
        while (!step.done) {
          // A redirect to a third-party host waits for the user.
          confirmations.push(`${step.value.scheme}://${step.value.host}`);
          step = await gen.next({ acceptRedirect: opts["accept-redirects"] });
        }
        if (!step.value) {
          throw new Error("FindConfig found no configuration (it returned null)");
        }
        return step.value;
      },
    },
  };
  const chosen = lookups[opts.lookup];
  if (!chosen) {
    throw new HarnessError(`unknown --lookup ${opts.lookup}`);
  }

  return withPrefs(prefOverrides(opts.pref), async () => {
    let route;
    if (opts.live) {
      const own = [domain, `autoconfig.${domain}`, `autodiscover.${domain}`];
      route = liveRoute(opts.live, [...own, ...opts.host], opts["no-https"] ? own : [], opts["live-https"]);
    } else {
      if (!chosen.url) {
        throw new HarnessError(`--lookup ${opts.lookup} needs --live`);
      }
      const status = parseInt(opts.status, 10);
      const headers = new Map(opts["content-type"] ? [["content-type", opts["content-type"]]] : []);
      route = replayRoute(chosen.url(), { status, statusText: STATUS_CODES[status] ?? "", headers, body });
    }
    job = { route, requests: [] };
    drainLog();

    const result = { thunderbird: version, lookup: opts.lookup, accepted: false };
    try {
      const config = await chosen.run();
      // What the account hub does with a found config before showing it
      // (email.mjs #fillAccountConfig).
      AccountConfig.replaceVariables(config, opts.realname, email, "");
      result.accepted = true;
      result.config = describe(config);
    } catch (e) {
      result.error = errorText(e);
      if (e instanceof AggregateError) {
        result.errors = e.errors.map(errorText);
      }
    }
    if (confirmations.length) {
      result.confirmations = confirmations;
    }
    result.requests = job.requests;
    result.log = drainLog();
    return result;
  });
}

// ---- modes -------------------------------------------------------------------------

if (main.values.check) {
  process.stdout.write(JSON.stringify({ thunderbird: version, ok: true }) + "\n");
  process.exit(0);
}

if (main.values.serve) {
  // One job at a time, in order; stdin's end ends the harness.
  const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
  for await (const line of lines) {
    if (!line.trim()) {
      continue;
    }
    let out;
    try {
      const { args = [], body = "" } = JSON.parse(line);
      const { values } = parse(args);
      out = await lookup(values, Buffer.from(body ?? "", "base64"));
    } catch (e) {
      out = { harnessError: e instanceof HarnessError ? e.message : e.stack ?? String(e) };
    }
    process.stdout.write(JSON.stringify(out) + "\n");
  }
  process.exit(0);
}

try {
  let body = Buffer.alloc(0);
  if (!main.values.live) {
    const file = main.positionals[0] ?? "-";
    try {
      body = readFileSync(file == "-" ? 0 : file);
    } catch (e) {
      throw new HarnessError(`reading ${file}: ${e.message}`);
    }
  }
  const result = await lookup(main.values, body);
  process.stdout.write(JSON.stringify(result, null, 1) + "\n");
  process.exit(0);
} catch (e) {
  process.stderr.write(`harness: ${e instanceof HarnessError ? e.message : e.stack}\n`);
  process.exit(2);
}
