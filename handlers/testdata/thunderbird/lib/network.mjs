// XMLHttpRequest for Thunderbird's FetchHTTP.sys.mjs, written for this
// harness. A route function decides what each request gets: a replayed
// response (one URL answers with a given document, nothing else is
// reachable) or a real HTTP exchange with a test server that stands in for
// the mail domain's hosts.

import { request as httpRequest } from "node:http";

import { parseXML } from "./gecko.mjs";

/** A request that never reached a server: XHR reports status 0. */
export class NetworkError extends Error {}

function mime(contentType) {
  const [essence, ...params] = (contentType ?? "").split(";");
  const charset = params.map(p => /^\s*charset\s*=\s*"?([^"]*)"?\s*$/i.exec(p)).find(Boolean);
  return { essence: essence.trim().toLowerCase(), charset: charset?.[1] ?? "utf-8" };
}

function decode(bytes, charset) {
  try {
    return new TextDecoder(charset).decode(bytes);
  } catch {
    return new TextDecoder("utf-8").decode(bytes);
  }
}

/**
 * makeXHR returns an XMLHttpRequest class. Each request belongs to the job
 * current() returns when it is created: it goes to job.route and is
 * recorded in job.requests (without credentials).
 *
 * route({method, url, headers, body}, entry) resolves to {status,
 * statusText, headers: Map (lower-case names), body: Buffer, url} or
 * rejects with a NetworkError.
 */
export function makeXHR(current, userAgent) {
  return class XMLHttpRequest {
    #job = current();
    #method = "GET";
    #url = "";
    #headers = {};
    #response = null;
    #aborted = false;
    #entry = null;
    channel = {};
    timeout = 0;
    status = 0;
    statusText = "";
    responseURL = "";
    responseText = "";
    onload = null;
    onerror = null;
    ontimeout = null;

    open(method, url) {
      this.#method = method.toUpperCase();
      this.#url = url;
    }

    setRequestHeader(name, value) {
      this.#headers[name] = String(value);
    }

    getResponseHeader(name) {
      return this.#response?.headers.get(name.toLowerCase()) ?? null;
    }

    // XHR's responseXML for responseType "": a document only for an XML MIME
    // type, and null when the body is not well-formed.
    get responseXML() {
      if (!this.#response) {
        return null;
      }
      const { essence, charset } = mime(this.getResponseHeader("content-type"));
      if (!(essence == "text/xml" || essence == "application/xml" || essence.endsWith("+xml"))) {
        return null;
      }
      return parseXML(decode(this.#response.body, charset));
    }

    abort() {
      this.#aborted = true;
      if (this.#entry && this.#entry.status === undefined) {
        this.#entry.error = "aborted";
      }
    }

    send(body) {
      const headers = { Accept: "*/*", "User-Agent": userAgent, ...this.#headers };
      const entry = (this.#entry = { method: this.#method, url: this.#url });
      const auth = /^(\w+)\s/.exec(headers.Authorization ?? "");
      if (auth) {
        entry.auth = auth[1];
      }
      if (body !== undefined && body !== null) {
        entry.requestContentType = headers["Content-Type"];
        entry.requestBody = String(body);
      }
      this.#job.requests.push(entry);
      const timer =
        this.timeout > 0
          ? setTimeout(() => {
              this.#aborted = true;
              entry.error = "timeout";
              this.ontimeout?.({ type: "timeout" });
            }, this.timeout)
          : null;
      this.#job.route({ method: this.#method, url: this.#url, headers, body: body ?? undefined }, entry).then(
        response => {
          clearTimeout(timer);
          if (this.#aborted) {
            return;
          }
          this.#response = response;
          this.status = response.status;
          this.statusText = response.statusText ?? "";
          this.responseURL = response.url;
          const ct = response.headers.get("content-type") ?? null;
          this.responseText = decode(response.body, mime(ct).charset);
          Object.assign(entry, { status: response.status, contentType: ct });
          if (response.url != this.#url) {
            entry.finalURL = response.url;
          }
          this.onload?.({ type: "load" });
        },
        error => {
          clearTimeout(timer);
          if (this.#aborted) {
            return;
          }
          entry.status = 0;
          entry.error = error.message;
          this.onerror?.({ type: "error" });
        }
      );
    }
  };
}

/**
 * replayRoute answers requests for serveURL (compared without the query)
 * with response; every other URL is unreachable.
 */
export function replayRoute(serveURL, response) {
  return async req => {
    const u = new URL(req.url);
    if (u.origin + u.pathname != serveURL) {
      throw new NetworkError("unreachable (the replay serves one URL)");
    }
    return { ...response, url: req.url };
  };
}

function exchange(server, method, url, headers, body) {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: server.hostname,
        port: server.port,
        method,
        path: url.pathname + url.search,
        headers: { ...headers, Host: url.host },
      },
      res => {
        const chunks = [];
        res.on("data", c => chunks.push(c));
        res.on("end", () =>
          resolve({
            status: res.statusCode,
            statusText: res.statusMessage,
            headers: new Map(Object.entries(res.headers).map(([k, v]) => [k, [v].flat().join(", ")])),
            body: Buffer.concat(chunks),
          })
        );
        res.on("error", reject);
      }
    );
    req.on("error", e => reject(new NetworkError(e.message)));
    req.end(body);
  });
}

/**
 * liveRoute sends requests for the given host names (and for the server's
 * own address) to the plain-HTTP test server at base, with the Host header
 * the client meant, and follows redirects as XHR does. https:// URLs go to
 * httpsBase (default base), still over plain HTTP: the harness has no
 * certificates. For the names in plainOnly https:// is unreachable. Every
 * other host is unreachable.
 */
export function liveRoute(base, hosts, plainOnly = [], httpsBase = base) {
  const plain = new URL(base);
  const tls = new URL(httpsBase);
  const routable = url =>
    url.host == plain.host ||
    url.host == tls.host ||
    (hosts.includes(url.hostname) && !(url.protocol == "https:" && plainOnly.includes(url.hostname)));
  return async (req, entry) => {
    let url = new URL(req.url);
    let { method, body } = req;
    const headers = { ...req.headers };
    for (let hop = 0; hop <= 20; hop++) {
      if (!routable(url)) {
        throw new NetworkError(`unreachable: ${url.host} is not served by the test server`);
      }
      const server = url.protocol == "https:" ? tls : plain;
      const response = await exchange(server, method, url, headers, body);
      const location = response.headers.get("location");
      if (![301, 302, 303, 307, 308].includes(response.status) || !location) {
        return { ...response, url: url.href };
      }
      // Fetch's redirect rules, which XHR follows.
      const next = new URL(location, url);
      if (((response.status == 301 || response.status == 302) && method == "POST") || (response.status == 303 && method != "HEAD")) {
        method = "GET";
        body = undefined;
        delete headers["Content-Type"];
      }
      if (next.origin != url.origin) {
        delete headers.Authorization;
      }
      (entry.redirects ??= []).push(`${response.status} ${next.href}`);
      url = next;
    }
    throw new NetworkError("too many redirects");
  };
}
