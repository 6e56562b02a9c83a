"use strict";
/*
 * Keep Adobe's Target Node SDK (@adobe/target-nodejs-sdk) on offerd.
 *
 * Why a fetch wrapper: the SDK chooses the Delivery API host on every call
 * (getTargetHost in the SDK's src/helper.js, 2.4.3). Once it knows an edge cluster N it calls
 * mboxedge<N>.tt.omtrdc.net and ignores `serverDomain`. It learns N from the
 * `targetLocationHint` option, from a `PC#<id>.<N>_0` mbox cookie, or from `edgeHost` in an
 * answer, and it remembers it for every later call of that client (preserveLocationHint in
 * src/index.js). Every Delivery API call goes through the client's `fetchApi` option, so a
 * fetch that sends Target's hosts (*.tt.omtrdc.net) to offerd keeps all of them there.
 *
 * Usage:
 *   const { offerdFetch } = require("./offerd-fetch");
 *   const client = TargetClient.create({
 *     client: "acme", organizationId: "...@AdobeOrg",
 *     serverDomain: "offerd.internal:8080", secure: false,   // the first calls
 *     fetchApi: offerdFetch("http://offerd.internal:8080"),   // and every call after a cluster is learned
 *   });
 */

// Target's Delivery API hosts: <client>.tt.omtrdc.net and mboxedge<N>.tt.omtrdc.net.
const TARGET_DELIVERY_HOST = /(^|\.)tt\.omtrdc\.net$/i;

/**
 * A `fetchApi` for TargetClient.create that sends Target's Delivery API calls to offerd.
 * Other URLs are fetched unchanged.
 * @param {string} offerdUrl offerd's origin, e.g. "http://offerd.internal:8080"
 * @param {{fetch?: Function}} [options] the fetch to send with (default: globalThis.fetch)
 * @returns {(input: string | URL | Request, init?: object) => Promise<Response>}
 */
function offerdFetch(offerdUrl, { fetch = globalThis.fetch } = {}) {
  const offerd = new URL(offerdUrl);
  if (typeof fetch !== "function") {
    throw new Error("offerdFetch: no fetch implementation (Node 18+ has one built in)");
  }
  return function fetchOnOfferd(input, init) {
    const isRequest = typeof input === "object" && !(input instanceof URL);
    const url = new URL(isRequest ? input.url : String(input));
    if (!TARGET_DELIVERY_HOST.test(url.hostname)) {
      return fetch(input, init);
    }
    url.protocol = offerd.protocol;
    url.host = offerd.host;
    // The 2.4.3 SDK passes a URL string; a Request keeps its method, headers and body.
    return isRequest ? fetch(new Request(url, input), init) : fetch(url.toString(), init);
  };
}

module.exports = { offerdFetch, TARGET_DELIVERY_HOST };
