"use strict";
/*
 * What the Node driver compares and counts with: normalisation of a getOffers result, a
 * deep diff, offerd's Prometheus counters, and a list of named checks.
 */

/** Cookie expiries and max ages follow the clock: `#<seconds>` parts are dropped. */
function withoutExpiries(cookieValue) {
  return String(cookieValue).replace(/#\d+(?=\||$)/g, "");
}

/**
 * The parts of a TargetDeliveryResponse that are decisions, with what legitimately differs
 * between a server-side and an on-device answer removed:
 * - response.requestId: generated per call;
 * - response.edgeHost: only Target's edge sets one;
 * - meta: names the decisioning method, which is the difference under test;
 * - the cookies' max ages and expiries: from the clock.
 * Everything else (status, id, client, execute, prefetch, options, metrics, response tokens,
 * analytics, the cookies' names and values) must be equal.
 */
function normalize(result) {
  const { response = {}, targetCookie, targetLocationHintCookie, responseTokens, analyticsDetails } = result;
  const { requestId, edgeHost, ...decisions } = response;
  return {
    response: decisions,
    targetCookie: targetCookie && { name: targetCookie.name, value: withoutExpiries(targetCookie.value) },
    targetLocationHintCookie: targetLocationHintCookie && {
      name: targetLocationHintCookie.name,
      value: targetLocationHintCookie.value
    },
    responseTokens,
    analyticsDetails
  };
}

/** How many options (offers) a Delivery API response holds, over execute and prefetch. */
function offerCount(response = {}) {
  const count = part => (part && part.options ? part.options.length : 0);
  return ["execute", "prefetch"].reduce((sum, mode) => {
    const { pageLoad, mboxes = [], views = [] } = response[mode] || {};
    return sum + count(pageLoad) + [...mboxes, ...views].reduce((n, part) => n + count(part), 0);
  }, 0);
}

/** JSON round trip: drops undefined and class identity, so values compare as data. */
function plain(value) {
  return value === undefined ? undefined : JSON.parse(JSON.stringify(value));
}

/** Paths where `a` and `b` differ, each with both values, at most `limit` of them. */
function diff(a, b, path = "", out = [], limit = 8) {
  if (out.length >= limit) return out;
  const bothObjects = a && b && typeof a === "object" && typeof b === "object";
  if (bothObjects && Array.isArray(a) === Array.isArray(b)) {
    for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) {
      diff(a[key], b[key], `${path}/${key}`, out, limit);
    }
  } else if (JSON.stringify(a) !== JSON.stringify(b)) {
    out.push(`${path || "/"}: offerd ${JSON.stringify(b)} vs on-device ${JSON.stringify(a)}`);
  }
  return out;
}

/** Sum of a Prometheus counter over the series whose labels include `labels`. */
function counter(metricsText, name, labels = {}) {
  let sum = 0;
  for (const line of metricsText.split("\n")) {
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const has = Object.entries(labels).every(([k, v]) => (m[2] || "").includes(`${k}="${v}"`));
    if (has) sum += Number(m[3]);
  }
  return sum;
}

/** Named pass/fail checks, printed as they come; `summary` ends with "N passed, M failed". */
class Checks {
  constructor(label) {
    this.label = label;
    this.passed = 0;
    this.failed = [];
  }

  check(name, ok, detail = "") {
    if (ok) {
      this.passed += 1;
    } else {
      this.failed.push(name);
      console.log(`FAIL ${this.label} ${name}${detail ? `: ${detail}` : ""}`);
    }
    return ok;
  }

  summary() {
    return `${this.label}: ${this.passed} passed, ${this.failed.length} failed`;
  }
}

module.exports = { normalize, plain, diff, counter, offerCount, Checks, withoutExpiries };
