"use strict";
/*
 * Adobe's Node SDK (@adobe/target-nodejs-sdk, pinned in ../package-lock.json) pointed at
 * offerd in server-side mode, with the recipe of examples/clients/node, against the same
 * SDK's own on-device engine on the same artifact.
 *
 *   node tests/sdk/node/compare.js CONFIG.json     (run.sh writes CONFIG and starts offerd)
 *
 * CONFIG: {client, organizationId, cases: path of `node cases.js` output, fakeTarget: URL of
 *          offerd's upstream (../fake_target.py), targets: {suite: {url, artifact},
 *          real: {url, artifact}}}: one offerd per artifact.
 *
 * Per target it checks that every case's decisions are equal, that every HTTP request the
 * SDK sent went to that offerd (and offerd counted each), that the SDK did try an edge
 * host (so the recipe was exercised), and that sendNotifications is owed by offerd and
 * delivered by its Batcher to the fake Target.
 * Exit status 1 when a check failed.
 */
const fs = require("fs");
const { offerdFetch } = require("../../../examples/clients/node/offerd-fetch");
const { normalize, plain, diff, counter, offerCount, Checks, withoutExpiries } = require("./check");

// The SDK's on-device engine fetches artifacts and geo with the global fetch it captures
// when it is loaded (src/index.server.js, src/index.js:83), not with the client's
// `fetchApi`. Replace it first, so an engine download fails the run instead of leaving.
const networkFetch = globalThis.fetch;
const engineFetches = [];
globalThis.fetch = url => {
  engineFetches.push(String(url));
  return Promise.reject(new Error(`no network in the SDK tests: ${url}`));
};
const TargetClient = require("@adobe/target-nodejs-sdk");

const EDGE_HOST = /^mboxedge\d+\.tt\.omtrdc\.net$/;
const DELIVERY = { endpoint: "/rest/v1/delivery" };
const config = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const cases = JSON.parse(fs.readFileSync(config.cases, "utf8"));
const checks = new Checks("node");

/** A logger that keeps the SDK's errors, shown when a case fails. */
function recordingLogger() {
  const errors = [];
  return { errors, logger: { debug() {}, error: (...args) => errors.push(args.map(String).join(" ")) } };
}

/** The reference: the SDK deciding on-device; its own Target calls are answered in process. */
function onDeviceClient(artifactPath, logger) {
  const inProcessTarget = () =>
    Promise.resolve(
      new Response(JSON.stringify({ status: 200 }), { headers: { "Content-Type": "application/json" } })
    );
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("on-device client not ready after 10 s")), 10000);
    const client = TargetClient.create({
      client: config.client,
      organizationId: config.organizationId,
      decisioningMethod: "on-device",
      artifactPayload: JSON.parse(fs.readFileSync(artifactPath, "utf8")),
      pollingInterval: 0,
      fetchApi: inProcessTarget,
      logger,
      events: {
        clientReady: () => {
          clearTimeout(timer);
          resolve(client);
        }
      }
    });
  });
}

/** The client under test: server-side, kept on offerd by the recipe; records every host. */
function offerdClient(url, logger) {
  const asked = []; // hosts the SDK chose
  const sent = []; // hosts the requests went to, after the recipe
  const offerdHost = new URL(url).host;
  const onOfferd = offerdFetch(url, {
    fetch: (target, init) => {
      const host = new URL(target).host;
      sent.push(host);
      // Refused rather than sent: a broken recipe fails the run and never reaches Adobe.
      return host === offerdHost
        ? networkFetch(target, init)
        : Promise.reject(new Error(`refused ${target}`));
    }
  });
  const client = TargetClient.create({
    client: config.client,
    organizationId: config.organizationId,
    decisioningMethod: "server-side",
    serverDomain: new URL(url).host,
    secure: false,
    fetchApi: (target, init) => {
      asked.push(new URL(target).host);
      return onOfferd(target, init);
    },
    logger
  });
  return { client, asked, sent };
}

async function metrics(url) {
  const res = await networkFetch(`${url}/metrics`);
  return res.text();
}

const settle = promise =>
  promise.then(
    value => ({ value }),
    error => ({ error })
  );

/** Compares every case of artifact `name`; returns how many on-device answers held an offer. */
async function compareCases(name, reference, offerd, errors) {
  let deciding = 0;
  for (const c of cases.filter(x => x.artifact === name)) {
    // The SDK rewrites what it is given: each client gets its own copy.
    const want = await settle(reference.getOffers(structuredClone(c.options)));
    const got = await settle(offerd.client.getOffers(structuredClone(c.options)));
    if (want.error || got.error) {
      checks.check(
        c.name,
        false,
        `on-device: ${want.error || "ok"}; offerd: ${got.error || "ok"}; ${errors.slice(-2).join(" | ")}`
      );
      continue;
    }
    const differences = diff(plain(normalize(want.value)), plain(normalize(got.value)));
    checks.check(c.name, differences.length === 0, differences.join("; "));
    if (offerCount(want.value.response) > 0) deciding += 1;
  }
  return deciding;
}

/** Notification ids the fake Target (offerd's upstream, see ../fake_target.py) has received. */
async function receivedByTarget() {
  const res = await networkFetch(`${config.fakeTarget}/received`);
  return new Set((await res.json()).notifications);
}

/** Polls `probe` until `predicate` holds of its value or 5 s pass; returns the last value. */
async function eventually(probe, predicate) {
  const deadline = Date.now() + 5000;
  for (;;) {
    const value = await probe();
    if (predicate(value) || Date.now() > deadline) return value;
    await new Promise(r => setTimeout(r, 50));
  }
}

/**
 * sendNotifications through the recipe (for a visitor with a cluster, so the SDK addresses
 * an edge) is owed by offerd, and its Batcher delivers it to offerd's upstream.
 */
async function checkNotifications(name, url, offerd) {
  const owed = async () => counter(await metrics(url), "offerd_notifications_owed_total");
  const before = await owed();
  const tnt = "0a1b2c3d4e5f60718293a4b5c6d7e8f9";
  const now = Date.now();
  const notifications = [
    {
      id: `node-${name}-display`,
      type: "display",
      timestamp: now,
      mbox: { name: "target-global-mbox" },
      tokens: ["t1"]
    },
    {
      id: `node-${name}-click`,
      type: "click",
      timestamp: now,
      mbox: { name: "target-global-mbox" },
      tokens: ["t2"]
    }
  ];
  const ids = notifications.map(n => n.id);
  const result = await settle(
    offerd.client.sendNotifications({
      targetCookie: `session#notify-${name}#1999999999|PC#${tnt}.35_0#1999999999`,
      request: { context: { channel: "web" }, notifications }
    })
  );
  if (!checks.check(`${name}/send-notifications`, !result.error, String(result.error))) return;
  const owedNow = (await owed()) - before;
  checks.check(
    `${name}/notifications-owed`,
    owedNow === ids.length,
    `offerd owes ${owedNow} more, the SDK sent ${ids.length}`
  );
  const received = await eventually(receivedByTarget, got => ids.every(id => got.has(id)));
  checks.check(
    `${name}/notifications-delivered-by-batcher`,
    ids.every(id => received.has(id)),
    `upstream has ${ids.filter(id => received.has(id))} of ${ids}`
  );
  // Target answers a notification request with the visitor's id and the ids it took; the
  // SDK builds the mbox cookie from that id (processResponse in its src/helper.js).
  const { response = {}, targetCookie } = result.value;
  const answered = (response.notifications || []).map(n => n.id).sort();
  checks.check(
    `${name}/notification-ids-answered`,
    JSON.stringify(answered) === JSON.stringify([...ids].sort()),
    `answered ${JSON.stringify(response.notifications)}`
  );
  const cookie = targetCookie && withoutExpiries(targetCookie.value);
  checks.check(
    `${name}/notification-cookie-keeps-visitor`,
    Boolean(cookie && cookie.includes(`PC#${tnt}.35_0`)),
    `mbox cookie ${JSON.stringify(cookie)}`
  );
}

async function runTarget(name, target) {
  const { errors, logger } = recordingLogger();
  const reference = await onDeviceClient(target.artifact, logger);
  const offerd = offerdClient(target.url, logger);
  const deliveryBefore = counter(await metrics(target.url), "offerd_http_requests_total", DELIVERY);

  const deciding = await compareCases(name, reference, offerd, errors);
  // Equal answers prove little if they are all empty (a wrong client code or token misses
  // every rule): most cases must decide an offer.
  const total = cases.filter(x => x.artifact === name).length;
  checks.check(
    `${name}/cases-decide-offers`,
    deciding * 2 > total,
    `${deciding} of ${total} on-device answers hold an offer`
  );
  await checkNotifications(name, target.url, offerd);

  const offerdHost = new URL(target.url).host;
  const away = offerd.sent.filter(h => h !== offerdHost);
  checks.check(
    `${name}/every-call-on-offerd`,
    offerd.sent.length > 0 && away.length === 0,
    `${away.length} of ${offerd.sent.length} calls went to ${[...new Set(away)]}`
  );
  const edge = offerd.asked.filter(h => EDGE_HOST.test(h));
  checks.check(
    `${name}/edge-calls-kept-on-offerd`,
    edge.length > 0,
    "the SDK never chose an edge host: the cluster cases did not exercise the recipe"
  );
  // offerd counts a request as it answers it: polled, so the last one is in.
  const delivered = async () => counter(await metrics(target.url), "offerd_http_requests_total", DELIVERY);
  const deliveryAfter = await eventually(delivered, n => n - deliveryBefore >= offerd.sent.length);
  checks.check(
    `${name}/offerd-answered-every-call`,
    deliveryAfter - deliveryBefore === offerd.sent.length,
    `offerd counted ${deliveryAfter - deliveryBefore}, the SDK sent ${offerd.sent.length}`
  );
  const calls = `${offerd.sent.length} calls sent (${edge.length} addressed by the SDK to an edge)`;
  console.log(`node ${name}: ${total} cases (${deciding} deciding offers), ${calls}`);
}

async function main() {
  for (const [name, target] of Object.entries(config.targets)) {
    await runTarget(name, target);
  }
  checks.check("no-engine-download", engineFetches.length === 0, engineFetches.join(", "));
  console.log(checks.summary());
  process.exit(checks.failed.length === 0 ? 0 : 1);
}

main().catch(err => {
  console.error(err);
  process.exit(1);
});
