"use strict";
/*
 * Runnable example: the official Target Node SDK in server-side mode, kept on offerd after it
 * has learned an edge cluster (the mbox cookie below carries PC#<id>.35_0).
 *
 *   cargo run --release &                                    # offerd with its demo, on :8080
 *   npm ci --prefix tests/sdk                                # the SDK, 2.4.3 (or npm i it yourself)
 *   NODE_PATH=tests/sdk/node_modules node examples/clients/node/example.js [http://127.0.0.1:8080]
 *
 * Prints the host of every call the SDK made (all offerd's) and the decision.
 */
const TargetClient = require("@adobe/target-nodejs-sdk");
const { offerdFetch } = require("./offerd-fetch");

const offerdUrl = process.argv[2] || "http://127.0.0.1:8080";
const hosts = [];
const countingFetch = (url, init) => {
  hosts.push(new URL(url).host);
  return fetch(url, init);
};

async function main() {
  const client = TargetClient.create({
    client: "demo", // offerd's demo artifact
    organizationId: "DEMO00000000000000000000@AdobeOrg",
    decisioningMethod: "server-side",
    serverDomain: new URL(offerdUrl).host,
    secure: new URL(offerdUrl).protocol === "https:",
    fetchApi: offerdFetch(offerdUrl, { fetch: countingFetch })
  });
  const visitor = "a1b2c3d4e5f60718293a4b5c6d7e8f90.35_0"; // edge cluster 35
  const result = await client.getOffers({
    targetCookie: `session#example-session#1999999999|PC#${visitor}#1999999999`,
    request: {
      context: { channel: "web", address: { url: "https://shop.example.com/" } },
      execute: { mboxes: [{ name: "hero-banner", index: 1 }] }
    }
  });
  console.log("hosts called:", [...new Set(hosts)].join(", "));
  console.log(JSON.stringify(result.response.execute, null, 2));
}

main().catch(err => {
  console.error(err);
  process.exit(1);
});
