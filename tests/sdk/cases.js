"use strict";
/*
 * The getOffers bodies both SDK suites replay, generated deterministically (a seeded PRNG):
 * the same list on every run and for both SDKs.
 *
 *   node tests/sdk/cases.js > cases.json
 *
 * A case is {name, artifact: "suite" | "real", options}. `options` is a Node SDK getOffers
 * argument in JSON (camelCase, as the Delivery API spells it); the Python driver maps it to
 * its snake_case options and model objects. Every case names its visitor (a tntId, a PC#
 * cookie, an MCID or a third-party id): with no id the on-device engine would allocate a
 * random one and the two answers could not be compared.
 *
 * "suite" is the conformance suite's TEST_ARTIFACT_AB_MULTI_SIMPLE (two A/B mboxes);
 * "real" is ../shared/real-artifact/rules.json (pageLoad activities on target-global-mbox,
 * each rule limited to property tokens, with browser, geo and page conditions).
 */

const SEED = 0x0ffe7d;
const SUITE_MBOXES = ["mbox-salutations", "mbox-magician"];
const GLOBAL_MBOX = "target-global-mbox";
// The real artifact's two property tokens: A is on every rule, B on all but activity 119283.
const REAL_TOKENS = [
  "be92ac4c-e72f-9f82-2a80-2c211ea86578",
  "693de2cd-ac92-d2c7-59fc-a3c0f2bce646",
  "00000000-0000-0000-0000-000000000000", // on no rule
  undefined // no token: rules limited to tokens do not apply
];
const USER_AGENTS = {
  chrome:
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
  firefox: "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
  safari:
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15",
  ie: "Mozilla/5.0 (Windows NT 10.0; WOW64; Trident/7.0; rv:11.0) like Gecko",
  edge: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.0.0"
};
const GEOS = [
  { countryCode: "US", stateCode: "CA", city: "SAN FRANCISCO", latitude: 37.75, longitude: -122.4 },
  { countryCode: "JP", stateCode: "13", city: "TOKYO", latitude: 35.69, longitude: 139.69 },
  { countryCode: "ZA", stateCode: "WC", city: "CAPE TOWN", latitude: -33.92, longitude: 18.42 },
  { countryCode: "FR", stateCode: "IDF", city: "PARIS", latitude: 48.86, longitude: 2.35 },
  undefined
];
const REAL_PAGES = ["https://target-perf-site.netlify.app/", "https://target-perf-site.netlify.app/other"];
// Far in the future, so the SDK never sees the cookie as expired.
const COOKIE_EXPIRY = 1999999999;

/** mulberry32: a small, well-known 32-bit PRNG; deterministic for a given seed. */
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function generator(seed) {
  const random = prng(seed);
  const pick = list => list[Math.floor(random() * list.length)];
  const hex = n => Array.from({ length: n }, () => pick("0123456789abcdef")).join("");
  return { random, pick, hex };
}

/**
 * Who the visitor is, and how the SDK learns it. Kinds with a cluster ("28", "35", "34")
 * make the SDK address mboxedge<N>.tt.omtrdc.net: the recipe must keep those on offerd.
 */
function identity(kind, g) {
  const tnt = g.hex(32);
  const session = `s-${g.hex(12)}`;
  const cookie = pc => `session#${session}#${COOKIE_EXPIRY}|PC#${pc}#${COOKIE_EXPIRY}`;
  switch (kind) {
    case "tntId":
      return { sessionId: session, id: { tntId: tnt } };
    case "tntId-cluster":
      return { sessionId: session, id: { tntId: `${tnt}.28_0` } };
    case "cookie-cluster":
      return { targetCookie: cookie(`${tnt}.35_0`) };
    case "cookie":
      return { targetCookie: cookie(tnt) };
    case "location-hint":
      return { sessionId: session, targetLocationHint: "34", id: { tntId: tnt } };
    case "mcid":
      return { sessionId: session, id: { marketingCloudVisitorId: `${g.hex(19)}${g.hex(19)}` } };
    case "third-party":
      return { sessionId: session, id: { tntId: tnt, thirdPartyId: `crm-${g.hex(8)}` } };
    default:
      throw new Error(`unknown identity ${kind}`);
  }
}
// A cluster first: the Python SDK keeps the host its first call chose (see examples/clients).
const IDENTITIES = [
  "cookie-cluster",
  "tntId",
  "tntId-cluster",
  "cookie",
  "location-hint",
  "mcid",
  "third-party"
];

function options(who, request) {
  const { id, ...rest } = who;
  return { ...rest, request: id ? { id, ...request } : request };
}

/** What is asked of the suite artifact: [label, execute?, prefetch?]. */
const SUITE_SHAPES = [
  ["execute-one", { mboxes: [{ name: SUITE_MBOXES[0], index: 1 }] }],
  ["execute-other", { mboxes: [{ name: SUITE_MBOXES[1], index: 1 }] }],
  ["execute-several", { mboxes: SUITE_MBOXES.map((name, i) => ({ name, index: i + 1 })) }],
  ["prefetch-several", undefined, { mboxes: SUITE_MBOXES.map((name, i) => ({ name, index: i + 1 })) }],
  [
    "execute-and-prefetch",
    { mboxes: [{ name: SUITE_MBOXES[1], index: 1 }] },
    { mboxes: [{ name: SUITE_MBOXES[0], index: 2 }] }
  ],
  ["execute-pageload-and-mbox", { pageLoad: {}, mboxes: [{ name: SUITE_MBOXES[0], index: 1 }] }],
  ["prefetch-pageload", undefined, { pageLoad: {} }],
  [
    "execute-params-and-unknown",
    {
      mboxes: [
        { name: SUITE_MBOXES[0], index: 1, parameters: { foo: "bar" }, profileParameters: { tier: "gold" } },
        { name: "no-such-mbox", index: 2 }
      ]
    }
  ],
  [
    "execute-same-mbox-twice",
    {
      mboxes: [
        { name: SUITE_MBOXES[1], index: 1 },
        { name: SUITE_MBOXES[1], index: 2 }
      ]
    }
  ]
];

function suiteCases(g, count) {
  return Array.from({ length: count }, (_, i) => {
    const [label, execute, prefetch] = SUITE_SHAPES[i % SUITE_SHAPES.length];
    const kind = IDENTITIES[Math.floor(i / SUITE_SHAPES.length + i) % IDENTITIES.length];
    const geo = g.pick(GEOS);
    const context = {
      channel: "web",
      address: { url: `https://shop.example.com/${g.hex(4)}` },
      userAgent: USER_AGENTS[g.pick(Object.keys(USER_AGENTS))],
      ...(geo ? { geo } : {})
    };
    const request = { context, ...(execute ? { execute } : {}), ...(prefetch ? { prefetch } : {}) };
    return {
      name: `suite/${String(i).padStart(2, "0")}-${label}-${kind}${geo ? `-geo-${geo.countryCode}` : ""}`,
      artifact: "suite",
      options: options(identity(kind, g), structuredClone(request))
    };
  });
}

/** What is asked of the real artifact: the global mbox as pageLoad or by name. */
const REAL_SHAPES = [
  ["execute-pageload", { execute: { pageLoad: {} } }],
  ["prefetch-pageload", { prefetch: { pageLoad: {} } }],
  ["execute-global-mbox", { execute: { mboxes: [{ name: GLOBAL_MBOX, index: 1 }] } }],
  ["execute-and-prefetch-pageload", { execute: { pageLoad: {} }, prefetch: { pageLoad: {} } }]
];

function realCases(g, count) {
  return Array.from({ length: count }, (_, i) => {
    const [label, asked] = REAL_SHAPES[i % REAL_SHAPES.length];
    const token = REAL_TOKENS[Math.floor(i / REAL_SHAPES.length) % REAL_TOKENS.length];
    const browser = g.pick(Object.keys(USER_AGENTS));
    const geo = GEOS[i % GEOS.length];
    const page = g.random() < 0.2 ? REAL_PAGES[1] : REAL_PAGES[0];
    const kind = IDENTITIES[i % IDENTITIES.length];
    const request = {
      context: {
        channel: "web",
        address: { url: page },
        userAgent: USER_AGENTS[browser],
        ...(geo ? { geo } : {})
      },
      ...(token ? { property: { token } } : {}),
      ...structuredClone(asked)
    };
    const parts = [
      label,
      token ? `token-${token.slice(0, 4)}` : "no-token",
      browser,
      geo ? geo.countryCode : "no-geo",
      ...(page === REAL_PAGES[0] ? [] : ["other-page"]),
      kind
    ];
    return {
      name: `real/${String(i).padStart(2, "0")}-${parts.join("-")}`,
      artifact: "real",
      options: options(identity(kind, g), request)
    };
  });
}

/**
 * Bodies that exercise what the Delivery API allows but offerd refused before issue 9:
 * an mbox without a name is dropped by the SDK, which then sends `execute: {}`.
 */
function emptyExecuteCases(g) {
  return [
    {
      name: "suite/empty-execute-after-invalid-mbox",
      artifact: "suite",
      options: options(identity("tntId", g), {
        context: { channel: "web" },
        execute: { mboxes: [{ index: 1 }] },
        prefetch: { mboxes: [{ name: SUITE_MBOXES[0], index: 1 }] }
      })
    }
  ];
}

function generateCases() {
  const g = generator(SEED);
  return [...suiteCases(g, 45), ...realCases(g, 40), ...emptyExecuteCases(g)];
}

module.exports = { generateCases };

if (require.main === module) {
  process.stdout.write(`${JSON.stringify(generateCases(), null, 1)}\n`);
}
