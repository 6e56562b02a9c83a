// The decision explorer in Debian's chromium (playwright-core over the DevTools protocol).
// Usage: node check.mjs CONFIG.json (written by run.sh). Prints PASS/FAIL lines; exits 1
// when anything failed. Screenshots go to the config's `screens` folder.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { chromium } from "playwright-core";

const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
const config = JSON.parse(readFileSync(process.argv[2], "utf8"));
let failures = 0;

function check(ok, what, detail = "") {
  console.log(`${ok ? "PASS" : "FAIL"} ${what}${ok || !detail ? "" : ": " + detail}`);
  if (!ok) { failures += 1; }
}

// Distinct activities per mbox and view, as the artifact lists them.
function activityCount(artifactPath) {
  const artifact = JSON.parse(readFileSync(artifactPath, "utf8"));
  let count = 0;
  for (const kind of ["mboxes", "views"]) {
    for (const rules of Object.values(artifact.rules?.[kind] ?? {})) {
      count += new Set(rules.map((r) => String(r.activityId ?? r.meta?.["activity.id"]))).size;
    }
  }
  return count;
}

async function decisions(base) {
  const text = await (await fetch(base + "/metrics")).text();
  return text.split("\n").filter((l) => l.startsWith("offerd_decisions_total"))
    .reduce((sum, l) => sum + Number(l.split(" ").pop()), 0);
}

// What a decision offers, per location: comparable between the explorer and /v1/offers.
function offered(response) {
  const out = [];
  for (const mode of ["execute", "prefetch"]) {
    const part = response?.[mode] ?? {};
    if (part.pageLoad) { out.push(["pageLoad", (part.pageLoad.options ?? []).map((o) => o.content)]); }
    for (const m of part.mboxes ?? []) { out.push([m.name, (m.options ?? []).map((o) => o.content)]); }
    for (const v of part.views ?? []) { out.push([v.name, (v.options ?? []).map((o) => o.content)]); }
  }
  return JSON.stringify(out);
}

async function openPage(browser, url, name) {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors = [];
  page.on("console", (m) => { if (m.type() === "error") { errors.push(m.text()); } });
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(url + "/explorer", { waitUntil: "load" });
  page.explorerErrors = errors;
  page.explorerName = name;
  return page;
}

async function axe(page, what) {
  await page.evaluate(axeSource);
  const result = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const r = await axe.run(document, { resultTypes: ["violations"] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length, help: v.help }));
  });
  const bad = result.filter((v) => v.impact === "serious" || v.impact === "critical");
  check(bad.length === 0, `${what}: axe-core, 0 serious or critical violations`, JSON.stringify(bad));
}

async function fill(page, values) {
  await page.check(`input[name=kind][value=${values.kind ?? "mboxes"}]`);
  for (const [name, value] of Object.entries(values)) {
    if (name !== "kind") { await page.fill(`[name=${name}]`, value); }
  }
}

// Tries `values` in the form and compares with /v1/offers for the same body.
async function tryRequest(page, base, values, label) {
  await fill(page, values);
  await page.click("#try-form button[type=submit]");
  await page.waitForSelector("#result .outcome pre.raw-request", { state: "attached", timeout: 10000 });
  const request = JSON.parse(await page.textContent("#result pre.raw-request"));
  const shown = JSON.parse(await page.textContent("#result pre.raw-response"));
  return { label, request, shown, why: await page.textContent("#result .outcome") };
}

async function compareWithOffers(base, tried) {
  for (const t of tried) {
    const answer = await fetch(base + "/v1/offers", {
      method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ request: t.request }),
    });
    const body = await answer.json();
    const same = offered(body.response) === offered(t.shown.response);
    check(answer.ok && same, `${t.label}: the explorer decides as /v1/offers`, `${offered(t.shown.response)} vs ${offered(body.response)}`);
    const tokens = JSON.stringify(body.response_tokens ?? []) === JSON.stringify(t.shown.response_tokens ?? []);
    check(tokens, `${t.label}: the same response tokens`);
  }
}

async function artifactChecks(page, target, name) {
  const expected = activityCount(target.artifact);
  const shown = await page.locator("section.location[data-name] article.activity").count();
  check(shown === expected, `${name}: ${shown} activities shown, the artifact has ${expected}`);
  const stated = Number(await page.textContent("#activity-count"));
  check(stated === expected, `${name}: the stated activity count is the artifact's`);
  await page.screenshot({ path: join(config.screens, `${name}-artifact.png`), fullPage: true });
}

async function demo(browser) {
  const target = config.targets.demo;
  const page = await openPage(browser, target.url, "demo");
  const started = Date.now();
  await artifactChecks(page, target, "demo");
  await axe(page, "demo page");
  // Search narrows the list.
  await page.fill("#search", "checkout");
  const visible = await page.locator("section.location[data-name] article.activity:not(.hidden)").count();
  check(visible === 1, "demo: searching 'checkout' leaves one activity", String(visible));
  await page.fill("#search", "");
  const before = await decisions(target.url);
  const tried = [];
  tried.push(await tryRequest(page, target.url, { mboxes: "hero-banner", visitor: "browser-visitor-1" }, "demo hero-banner"));
  // One screen of the form and its explanation (the README's picture: docs/explorer.png).
  await page.locator("#try-heading").scrollIntoViewIfNeeded();
  await page.evaluate(() => window.scrollBy(0, document.querySelector("#try-form .actions").getBoundingClientRect().top - 140));
  await page.screenshot({ path: join(config.screens, "demo-try.png") });
  tried.push(await tryRequest(page, target.url, { mboxes: "checkout-button, search-feature", visitor: "browser-visitor-2",
    userAgent: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36" }, "demo checkout+search"));
  tried.push(await tryRequest(page, target.url, { mboxes: "welcome-geo", visitor: "browser-visitor-3", country: "US" }, "demo welcome-geo (US)"));
  check((await decisions(target.url)) === before, "demo: tried requests count no decision");
  check(tried[2].why.includes("country is US") && tried[2].why.includes("✓ matched"), "demo: the geo audience is shown matched");
  check(tried[0].why.includes("bucket: ") && /winner: \S/.test(tried[0].why), "demo: the bucket and the winner are shown");
  await page.screenshot({ path: join(config.screens, "demo-outcome.png"), fullPage: true });
  await axe(page, "demo page with an outcome");
  await compareWithOffers(target.url, tried);
  // Copy as curl and the shareable link.
  await page.click("#copy-curl");
  const curl = await page.textContent("#curl-text");
  check(curl.startsWith("curl -sS -X POST") && curl.includes("/v1/offers") && curl.includes("welcome-geo"), "demo: copy as curl", curl);
  await page.click("#share-link");
  const link = page.url();
  const shared = await browser.newPage();
  await shared.goto(link);
  const country = await shared.inputValue("#f-country");
  const mboxes = await shared.inputValue("#f-mboxes");
  check(country === "US" && mboxes === "welcome-geo", "demo: the shared link fills the form", link);
  await shared.close();
  check(page.explorerErrors.length === 0, "demo: no console errors", page.explorerErrors.join(" | "));
  console.log(`demo: page checks in ${Date.now() - started} ms`);
  await page.close();
}

async function keyboard(browser) {
  const target = config.targets.demo;
  const page = await openPage(browser, target.url, "keyboard");
  // From the top of the page, Tab reaches the mbox field; type, then Tab on to Decide.
  const focused = () => page.evaluate(() => document.activeElement?.id || document.activeElement?.getAttribute("name") || document.activeElement?.textContent);
  let reached = false;
  for (let i = 0; i < 20 && !reached; i += 1) {
    await page.keyboard.press("Tab");
    reached = (await focused()) === "f-mboxes";
  }
  check(reached, "keyboard: Tab reaches the mbox field");
  await page.keyboard.press("Control+A");
  await page.keyboard.type("search-feature");
  let onDecide = false;
  for (let i = 0; i < 20 && !onDecide; i += 1) {
    await page.keyboard.press("Tab");
    onDecide = (await focused()) === "Decide";
  }
  check(onDecide, "keyboard: Tab reaches Decide");
  await page.keyboard.press("Enter");
  await page.waitForSelector("#result .outcome", { timeout: 10000 }).catch(() => null);
  const why = (await page.textContent("#result")) ?? "";
  check(why.includes("search-feature"), "keyboard: Enter on Decide decides the typed mbox");
  // A raw-JSON toggle opens from the keyboard.
  await page.focus("section.location[data-name] details summary");
  await page.keyboard.press("Enter");
  const open = await page.evaluate(() => document.querySelector("section.location[data-name] details").open);
  check(open, "keyboard: Enter opens a raw JSON toggle");
  await page.screenshot({ path: join(config.screens, "keyboard.png") });
  check(page.explorerErrors.length === 0, "keyboard: no console errors", page.explorerErrors.join(" | "));
  await page.close();
}

async function real(browser) {
  const target = config.targets.real;
  const started = Date.now();
  const page = await openPage(browser, target.url, "real");
  console.log(`real: page loaded in ${Date.now() - started} ms`);
  await artifactChecks(page, target, "real");
  await axe(page, "real page");
  const before = await decisions(target.url);
  const tried = [await tryRequest(page, target.url, {
    kind: "pageLoad", visitor: "real-visitor-1", url: "https://target-perf-site.netlify.app/", country: "US",
    propertyToken: "be92ac4c-e72f-9f82-2a80-2c211ea86578",
    userAgent: "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Safari/605.1.15",
  }, "real page load (Safari, US)")];
  check((await decisions(target.url)) === before, "real: a tried request counts no decision");
  check(/winner: Experience/.test(tried[0].why) && tried[0].why.includes("✓ matched browser is safari"),
    "real: Safari on the home page wins 'browser icon' Experience A");
  await page.screenshot({ path: join(config.screens, "real-outcome.png"), fullPage: true });
  await page.locator("#result .outcome section.location").first().screenshot({ path: join(config.screens, "real-why.png") });
  console.log("real: the explanation reads:\n" + tried[0].why.replace(/\n\s*\n/g, "\n").slice(0, 3000));
  await compareWithOffers(target.url, tried);
  check(page.explorerErrors.length === 0, "real: no console errors", page.explorerErrors.join(" | "));
  await page.close();
}

async function hostile(browser) {
  const target = config.targets.hostile;
  const page = await openPage(browser, target.url, "hostile");
  await artifactChecks(page, target, "hostile");
  const heading = await page.locator("section.location[data-name] h4").first().textContent();
  check(heading.includes("<script>window.__pwned=1</script>"), "hostile: an activity name shows its markup as text", heading);
  check(await page.locator("img[src=x]").count() === 0, "hostile: no element made from artifact text");
  await fill(page, { mboxes: "hero-banner", visitor: "hostile-1", params: "color=<script>window.__pwned=4</script>" });
  await page.click("#try-form button[type=submit]");
  await page.waitForSelector("#result .outcome", { timeout: 10000 });
  const pwned = await page.evaluate(() => window.__pwned);
  check(pwned === undefined, "hostile: no artifact or form text ran as script", String(pwned));
  check(await page.locator("img[src=x]").count() === 0, "hostile: the explanation made no element from artifact text");
  await page.screenshot({ path: join(config.screens, "hostile.png"), fullPage: true });
  const errors = page.explorerErrors.filter((e) => !e.includes("Content Security Policy"));
  check(errors.length === 0, "hostile: no console errors", errors.join(" | "));
  await page.close();
}

async function phone(browser) {
  const page = await browser.newPage({ viewport: { width: 390, height: 844 }, isMobile: true });
  await page.goto(config.targets.demo.url + "/explorer");
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(overflow <= 0, "phone: no sideways scrolling", `${overflow}px too wide`);
  await page.screenshot({ path: join(config.screens, "demo-phone.png"), fullPage: false });
  await page.close();
}

const browser = await chromium.launch({
  executablePath: config.chromium,
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync"],
});
try {
  for (const step of [demo, keyboard, real, hostile, phone]) {
    try {
      await step(browser);
    } catch (error) {
      check(false, `${step.name}: ran to the end`, String(error));
    }
  }
} finally {
  await browser.close();
}
console.log(failures === 0 ? "explorer: all browser checks passed" : `explorer: ${failures} check(s) failed`);
process.exit(failures === 0 ? 0 : 1);
