// The few Gecko globals that Thunderbird's account-setup modules touch,
// written for this harness: ChromeUtils (module getters), Services (prefs
// read from Thunderbird's own default pref files, URIs, eTLD, directory
// service), Ci constants, Localization (reads Thunderbird's own .ftl
// files), console.createInstance, IOUtils, DOMParser and XMLHttpRequest.
// Everything a module logs is captured, not printed.

import { accessSync, constants, readdirSync, readFileSync } from "node:fs";
import { access, readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { inspect } from "node:util";

import { DOMParser as XMLDOMParser } from "@xmldom/xmldom";

import { Jar } from "./jar.mjs";

// ---- captured log -------------------------------------------------------

const captured = [];

function show(v) {
  if (v instanceof Error) {
    return `${v.name}: ${v.message}`;
  }
  if (typeof v == "string") {
    return v;
  }
  if (v instanceof URL) {
    return v.href;
  }
  return inspect(v, { depth: 2, breakLength: Infinity });
}

function capture(source, level, args) {
  captured.push(`${source} ${level}: ${args.map(show).join(" ")}`);
}

function captureConsole() {
  for (const level of ["error", "warn", "info", "log", "debug", "trace"]) {
    console[level] = (...args) => capture("console", level, args);
  }
  // Gecko's console.createInstance: a named logger. The harness keeps every
  // message regardless of its level.
  console.createInstance = ({ prefix = "console" } = {}) => {
    const logger = {};
    for (const level of ["error", "warn", "info", "log", "debug", "trace"]) {
      logger[level] = (...args) => capture(prefix, level, args);
    }
    return logger;
  };
  globalThis.dump = s => capture("dump", "log", [String(s).trimEnd()]);
  // Gecko reports a promise rejection that stays unhandled and carries on;
  // Node would end the process. Rejections handled later (as
  // promiseFirstSuccessful does) are not reported.
  process.on("unhandledRejection", (reason, promise) => unhandled.set(promise, reason));
  process.on("rejectionHandled", promise => unhandled.delete(promise));
  process.removeAllListeners("warning");
}

const unhandled = new Map();

// drainLog returns what was logged since the last call, and the
// rejections nobody handled, and starts afresh.
export function drainLog() {
  const log = [...captured, ...[...unhandled.values()].map(reason => `uncaught rejection: ${show(reason)}`)];
  captured.length = 0;
  unhandled.clear();
  return log;
}

// ---- XML ------------------------------------------------------------------

// parseXML parses text as an XML document the way Gecko's XML parser
// builds it: null if it is not well-formed. The XML declaration and white
// space outside the root element are not nodes in Gecko's DOM, so they are
// removed here too.
export function parseXML(text) {
  let doc;
  try {
    doc = new XMLDOMParser({
      onError(level, message) {
        if (level != "warning") {
          throw new Error(message);
        }
      },
    }).parseFromString(text, "text/xml");
  } catch {
    return null;
  }
  for (const node of [...Array(doc.childNodes.length).keys()].map(i => doc.childNodes.item(i))) {
    if (node.nodeType == 3 || (node.nodeType == 7 && node.target == "xml")) {
      doc.removeChild(node);
    }
  }
  return doc;
}

// DOMParser as Gecko's: a document that is not well-formed gives a
// <parsererror> document, not an exception.
class DOMParser {
  parseFromString(text) {
    return (
      parseXML(text) ??
      parseXML(
        '<parsererror xmlns="http://www.mozilla.org/newlayout/xml/parsererror.xml">XML Parsing Error</parsererror>'
      )
    );
  }
}

// ---- prefs ----------------------------------------------------------------

// Prefs that Gecko compiles into libxul (StaticPrefList.yaml) rather than
// shipping in a default-prefs file, with their defaults.
const staticPrefs = {
  "mail.graph.enabled": false,
};

// stripComments removes // and /* */ comments (and preprocessor lines) from
// a prefs file, leaving string literals alone.
function stripComments(src) {
  let out = "";
  for (let i = 0; i < src.length; ) {
    const c = src[i];
    if (c == '"' || c == "'") {
      let j = i + 1;
      while (j < src.length && src[j] != c) {
        j += src[j] == "\\" ? 2 : 1;
      }
      out += src.slice(i, j + 1);
      i = j + 1;
    } else if (src.startsWith("//", i) || (c == "#" && (i == 0 || src[i - 1] == "\n"))) {
      const j = src.indexOf("\n", i);
      i = j < 0 ? src.length : j;
    } else if (src.startsWith("/*", i)) {
      const j = src.indexOf("*/", i + 2);
      i = j < 0 ? src.length : j + 2;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

const prefCall =
  /\b(?:pref|sticky_pref|user_pref|lockPref)\s*\(\s*("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')\s*,\s*("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|true|false|[-+]?\d+)\s*(?:,[\s\w,]*)?\)/g;

function prefValue(literal) {
  if (literal == "true" || literal == "false") {
    return literal == "true";
  }
  if (/^[-+]?\d+$/.test(literal)) {
    return parseInt(literal, 10);
  }
  if (literal[0] == "'") {
    literal = '"' + literal.slice(1, -1).replace(/\\'/g, "'").replace(/"/g, '\\"') + '"';
  }
  return JSON.parse(literal);
}

function parsePrefs(text, into) {
  for (const m of stripComments(text).matchAll(prefCall)) {
    into.set(prefValue(m[1]), prefValue(m[2]));
  }
}

// loadPrefs reads Thunderbird's default prefs: greprefs.js and
// defaults/pref/*.js from omni.ja, then the install directory's
// defaults/pref/*.js (the distribution's own), as Gecko does.
function loadPrefs(jar, appDir) {
  const prefs = new Map(Object.entries(staticPrefs));
  if (jar.has("greprefs.js")) {
    parsePrefs(jar.text("greprefs.js"), prefs);
  }
  for (const name of jar.list("defaults/pref/").filter(n => n.endsWith(".js")).sort()) {
    parsePrefs(jar.text(name), prefs);
  }
  let local = [];
  try {
    local = readdirSync(join(appDir, "defaults", "pref")).filter(n => n.endsWith(".js")).sort();
  } catch {}
  for (const name of local) {
    parsePrefs(readFileSync(join(appDir, "defaults", "pref", name), "utf8"), prefs);
  }
  return prefs;
}

function makePrefBranch(prefs) {
  // Gecko throws NS_ERROR_UNEXPECTED for a pref without a value when no
  // default is passed, and for a value of the wrong type.
  const get = type => (name, fallback) => {
    if (prefs.has(name)) {
      const v = prefs.get(name);
      if (typeof v != type) {
        throw new Error(`NS_ERROR_UNEXPECTED: pref ${name} is not a ${type}`);
      }
      return v;
    }
    if (fallback !== undefined) {
      return fallback;
    }
    throw new Error(`NS_ERROR_UNEXPECTED: pref ${name} has no value`);
  };
  const set = (name, value) => prefs.set(name, value);
  return {
    getBoolPref: get("boolean"),
    getCharPref: get("string"),
    getStringPref: get("string"),
    getIntPref: get("number"),
    setBoolPref: set,
    setCharPref: set,
    setStringPref: set,
    setIntPref: set,
    prefHasUserValue: () => false,
    addObserver() {},
    removeObserver() {},
  };
}

// ---- Localization -----------------------------------------------------------

// parseFTL reads the simple messages of a Fluent file: "id = text", with
// indented continuation lines. Attributes, terms and selectors are not
// needed by the account-setup modules' error messages.
function parseFTL(text, into) {
  let current = null;
  for (const line of text.split("\n")) {
    const m = /^([a-zA-Z][\w-]*)\s*=\s*(.*)$/.exec(line);
    if (m) {
      current = m[1];
      into.set(current, m[2].trim());
    } else if (current && /^\s+\S/.test(line) && !/^\s+\./.test(line)) {
      into.set(current, (into.get(current) + "\n" + line.trim()).trim());
    } else if (!/^\s/.test(line)) {
      current = null;
    }
  }
}

function makeLocalization(jar) {
  return class Localization {
    #messages = new Map();
    constructor(resourceIds) {
      for (const id of resourceIds) {
        const name = `localization/en-US/${id}`;
        if (jar.has(name)) {
          parseFTL(jar.text(name), this.#messages);
        } else {
          capture("Localization", "error", [`missing resource ${id}`]);
        }
      }
    }
    formatValueSync(id, args = {}) {
      const pattern = this.#messages.get(id);
      if (pattern === undefined) {
        capture("Localization", "error", [`missing message ${id}`]);
        return null;
      }
      return pattern.replace(/\{\s*\$(\w+)\s*\}/g, (_, v) => String(args[v] ?? `{$${v}}`));
    }
    async formatValue(id, args) {
      return this.formatValueSync(id, args);
    }
    async formatValues(keys) {
      return keys.map(k => this.formatValueSync(k.id, k.args));
    }
  };
}

// ---- URIs, eTLD, files ------------------------------------------------------

function newURI(spec) {
  const u = new URL(spec);
  return {
    spec: u.href,
    scheme: u.protocol.slice(0, -1),
    host: u.hostname.replace(/^\[(.*)\]$/, "$1"),
    hostPort: u.host,
    port: u.port ? parseInt(u.port, 10) : -1,
    pathQueryRef: u.pathname + u.search + u.hash,
    QueryInterface() {
      return this;
    },
  };
}

// Without the Public Suffix List the base domain is taken to be the last two
// labels. Only the cross-domain redirect checks of Autodiscover use this.
const eTLD = {
  getBaseDomainFromHost(host) {
    const labels = host.toLowerCase().replace(/\.$/, "").split(".");
    if (labels.length < 2) {
      throw new Error(`NS_ERROR_INSUFFICIENT_DOMAIN_LEVELS: ${host}`);
    }
    return labels.slice(-2).join(".");
  },
  getBaseDomain(uri) {
    return this.getBaseDomainFromHost(uri.host);
  },
  getNextSubDomain(host) {
    const base = this.getBaseDomainFromHost(host);
    const labels = host.toLowerCase().replace(/\.$/, "").split(".");
    if (labels.length <= base.split(".").length) {
      throw new Error(`NS_ERROR_INSUFFICIENT_DOMAIN_LEVELS: ${host}`);
    }
    return labels.slice(-3).join(".");
  },
  getSchemelessSite(uri) {
    return this.getBaseDomain(uri);
  },
};

function nsIFile(path) {
  return {
    path,
    append(name) {
      this.path = join(this.path, name);
    },
    exists() {
      try {
        accessSync(this.path);
        return true;
      } catch {
        return false;
      }
    },
    isReadable() {
      try {
        accessSync(this.path, constants.R_OK);
        return true;
      } catch {
        return false;
      }
    },
  };
}

const IOUtils = {
  async exists(path) {
    try {
      await access(path);
      return true;
    } catch {
      return false;
    }
  },
  readUTF8: path => readFile(path, "utf8"),
};

// ---- ChromeUtils: module getters -------------------------------------------

const modules = new Map(); // URL -> namespace or { error }
const pending = new Set();

function preload(url) {
  if (modules.has(url)) {
    return;
  }
  modules.set(url, null);
  const p = import(url).then(
    ns => modules.set(url, ns),
    error => modules.set(url, { error })
  );
  pending.add(p);
  p.finally(() => pending.delete(p));
}

function loaded(url) {
  const ns = modules.get(url);
  if (!ns) {
    throw new Error(`harness: ${url} was used before it was loaded`);
  }
  if (ns.error) {
    throw ns.error;
  }
  return ns;
}

// settle waits until every module that a lazy getter may return has been
// imported. Gecko imports these synchronously on first use; Node can only
// import asynchronously, so the harness imports them all up front.
export async function settle() {
  while (pending.size) {
    await Promise.all([...pending]);
  }
}

// importModule imports url and everything its lazy getters name.
export async function importModule(url) {
  preload(url);
  await settle();
  return loaded(url);
}

function defineLazy(target, name, get) {
  Object.defineProperty(target, name, {
    configurable: true,
    enumerable: true,
    get() {
      const value = get();
      Object.defineProperty(target, name, { value, writable: true, configurable: true, enumerable: true });
      return value;
    },
  });
}

const ChromeUtils = {
  defineESModuleGetters(target, map) {
    for (const [name, url] of Object.entries(map)) {
      preload(url);
      defineLazy(target, name, () => loaded(url)[name]);
    }
  },
  defineLazyGetter(target, name, fn) {
    defineLazy(target, name, () => fn.call(target));
  },
  importESModule: url => loaded(url),
  generateQI: () =>
    function QueryInterface() {
      return this;
    },
};

// ---- interface constants ----------------------------------------------------

// From mailnews/base/public/MailNewsTypes2.idl; AccountConfig.toString
// spells out the same numbers.
export const Ci = {
  nsMsgSocketType: { plain: 0, trySTARTTLS: 1, alwaysSTARTTLS: 2, SSL: 3 },
  nsMsgAuthMethod: {
    none: 1,
    old: 2,
    passwordCleartext: 3,
    passwordEncrypted: 4,
    GSSAPI: 5,
    NTLM: 6,
    External: 7,
    secure: 8,
    anything: 9,
    OAuth2: 10,
  },
  nsIURL: "nsIURL",
  nsIFile: "nsIFile",
};

// ---- install ------------------------------------------------------------------

// install puts the globals in place. omni is the path of omni.ja,
// XMLHttpRequest is the network shim. It returns withPrefs(overrides, fn),
// which runs fn with some default prefs overridden (name -> value).
export function install({ omni, XMLHttpRequest }) {
  const jar = new Jar(omni);
  const appDir = dirname(omni);
  const prefs = loadPrefs(jar, appDir);
  captureConsole();

  // Standard APIs that Node 20 lacks and Thunderbird's code uses.
  Promise.withResolvers ??= function () {
    let resolve, reject;
    const promise = new Promise((res, rej) => {
      resolve = res;
      reject = rej;
    });
    return { promise, resolve, reject };
  };
  URL.parse ??= (url, base) => {
    try {
      return new URL(url, base);
    } catch {
      return null;
    }
  };

  Object.assign(globalThis, {
    ChromeUtils,
    Ci,
    Cu: {
      isInAutomation: false,
      reportError: e => capture("Cu", "error", [e]),
    },
    Cc: new Proxy(
      {},
      {
        get(_, contract) {
          throw new Error(`harness: XPCOM component ${String(contract)} is not available`);
        },
      }
    ),
    Services: {
      prefs: makePrefBranch(prefs),
      io: { newURI },
      eTLD,
      dirsvc: {
        get(key) {
          if (key != "CurProcD") {
            throw new Error(`harness: directory ${key} is not available`);
          }
          return nsIFile(appDir);
        },
      },
      obs: { addObserver() {}, removeObserver() {}, notifyObservers() {} },
      locale: { requestedLocales: ["en-US"], appLocaleAsBCP47: "en-US" },
    },
    Localization: makeLocalization(jar),
    IOUtils,
    DOMParser,
    XMLHttpRequest,
  });

  async function withPrefs(overrides, fn) {
    const saved = new Map(Object.keys(overrides).map(k => [k, prefs.get(k)]));
    for (const [k, v] of Object.entries(overrides)) {
      prefs.set(k, v);
    }
    try {
      return await fn();
    } finally {
      for (const [k, v] of saved) {
        v === undefined ? prefs.delete(k) : prefs.set(k, v);
      }
    }
  }
  return { withPrefs };
}
