// Node module customization hooks (module.register) that make Thunderbird's
// resource:// module URLs importable: each module's source is read straight
// out of the installed omni.ja, and a few platform modules (DNS, timers,
// OAuth2 login, add-ons, port probing) are replaced by the harness's own
// stubs in ../stubs/. Nothing else is changed.

import { Jar } from "./jar.mjs";

let jar;
let stubs = {};

export function initialize(data) {
  jar = new Jar(data.omni);
  stubs = data.stubs;
}

// jarPath maps a Gecko module URL to the member of omni.ja holding it.
// Thunderbird's omni.ja is both the application and the GRE archive, so
// resource:/// and resource://gre/ name the same tree.
export function jarPath(url) {
  const m = /^resource:\/\/(gre)?\/(.+)$/.exec(url);
  return m ? m[2] : null;
}

export async function resolve(specifier, context, next) {
  if (/^(resource|moz-src|chrome):/.test(specifier)) {
    const path = jarPath(specifier);
    if (!path) {
      throw new Error(`harness: cannot map ${specifier} to omni.ja`);
    }
    const url = "resource:///" + path;
    if (stubs[path]) {
      return { url: stubs[path], shortCircuit: true };
    }
    return { url, format: "module", shortCircuit: true };
  }
  return next(specifier, context);
}

export async function load(url, context, next) {
  if (url.startsWith("resource:")) {
    const path = jarPath(url);
    if (!jar.has(path)) {
      throw new Error(`harness: ${url} is not in ${jar.path}`);
    }
    return { format: "module", source: jar.text(path), shortCircuit: true };
  }
  return next(url, context);
}
