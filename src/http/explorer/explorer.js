// The decision explorer's behaviour: search over the artifact, the try-a-request form
// (build the /v1/offers body, decide it through POST /explorer/try), copy as curl, and
// a shareable URL that fills the form. Text from the server is inserted as text; the
// one HTML fragment (the explanation) is rendered and escaped by the server.
"use strict";

const FIELDS = ["mboxes", "view", "visitor", "url", "referrer", "userAgent", "country",
  "region", "city", "propertyToken", "at", "params"];

function byId(id) { return document.getElementById(id); }

function formValues(form) {
  const values = {};
  for (const name of FIELDS) {
    const input = form.elements.namedItem(name);
    values[name] = input ? input.value.trim() : "";
  }
  const kind = form.querySelector("input[name=kind]:checked");
  values.kind = kind ? kind.value : "mboxes";
  return values;
}

function parameters(text) {
  const params = {};
  for (const line of text.split("\n")) {
    const at = line.indexOf("=");
    if (at > 0) { params[line.slice(0, at).trim()] = line.slice(at + 1).trim(); }
  }
  return params;
}

// The /v1/offers body for the form's values.
function offersBody(v) {
  const context = { channel: "web" };
  const address = {};
  if (v.url) { address.url = v.url; }
  if (v.referrer) { address.referringUrl = v.referrer; }
  if (Object.keys(address).length) { context.address = address; }
  if (v.userAgent) { context.userAgent = v.userAgent; }
  const geo = {};
  if (v.country) { geo.countryCode = v.country; }
  if (v.region) { geo.stateCode = v.region; }
  if (v.city) { geo.city = v.city; }
  if (Object.keys(geo).length) { context.geo = geo; }
  const request = { context: context };
  if (v.visitor) { request.id = { tntId: v.visitor }; }
  if (v.propertyToken) { request.property = { token: v.propertyToken }; }
  const params = parameters(v.params);
  const withParams = (item) => (Object.keys(params).length ? Object.assign(item, { parameters: params }) : item);
  if (v.kind === "pageLoad") {
    request.execute = { pageLoad: withParams({}) };
  } else if (v.kind === "view") {
    request.prefetch = { views: [withParams({ name: v.view })] };
  } else {
    const names = v.mboxes.split(",").map((n) => n.trim()).filter((n) => n);
    request.execute = { mboxes: names.map((name, index) => withParams({ index: index, name: name })) };
  }
  return { request: request };
}

function shellQuote(text) { return "'" + text.replace(/'/g, "'\\''") + "'"; }

function curlFor(form, body) {
  const target = new URL(form.dataset.offersUrl, window.location.href).href;
  return "curl -sS -X POST " + shellQuote(target) +
    " -H 'content-type: application/json' --data " + shellQuote(JSON.stringify(body));
}

function shareUrl(values) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(values)) {
    if (value) { query.set(key, value); }
  }
  return window.location.origin + window.location.pathname + "?" + query.toString();
}

function fillFrom(form, query) {
  for (const name of FIELDS) {
    const input = form.elements.namedItem(name);
    if (input && query.has(name)) { input.value = query.get(name); }
  }
  const kind = query.get("kind");
  if (kind) {
    const radio = form.querySelector("input[name=kind][value=\"" + CSS.escape(kind) + "\"]");
    if (radio) { radio.checked = true; }
  }
}

function setStatus(text, isError) {
  const status = byId("form-status");
  status.textContent = text;
  status.className = isError ? "error" : "";
}

async function copyText(text, what) {
  const pre = byId("curl-text");
  pre.textContent = text;
  pre.hidden = false;
  try {
    await navigator.clipboard.writeText(text);
    setStatus(what + " copied to the clipboard.", false);
  } catch (_) {
    setStatus(what + " shown below (the clipboard is not available here).", false);
  }
}

async function decide(form) {
  const values = formValues(form);
  const payload = { offers: offersBody(values) };
  if (values.at) { payload.at = values.at; }
  setStatus("Deciding…", false);
  const result = byId("result");
  try {
    const answer = await fetch("/explorer/try", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(payload),
      credentials: "same-origin",
    });
    const body = await answer.json();
    if (!answer.ok) {
      const message = body && body.error ? body.error.message : "HTTP " + answer.status;
      result.textContent = "";
      setStatus("Cannot decide: " + message, true);
      return;
    }
    // Rendered and escaped by the server (maud).
    result.innerHTML = body.html;
    setStatus("Decided. The explanation is below.", false);
  } catch (error) {
    setStatus("Cannot decide: " + error, true);
  }
}

function search(input) {
  const needle = input.value.trim().toLowerCase();
  let shown = 0;
  const items = document.querySelectorAll("[data-search]");
  for (const item of items) {
    const match = !needle || item.dataset.search.includes(needle);
    item.classList.toggle("hidden", !match);
    if (match) { shown += 1; }
  }
  for (const section of document.querySelectorAll("section.location[data-name]")) {
    const any = section.querySelector(".activity:not(.hidden)");
    section.classList.toggle("hidden", !any);
  }
  byId("search-count").textContent = needle ? shown + " of " + items.length + " shown" : "";
}

function start() {
  const form = byId("try-form");
  if (!form) { return; }
  fillFrom(form, new URLSearchParams(window.location.search));
  form.addEventListener("submit", (event) => { event.preventDefault(); decide(form); });
  byId("copy-curl").addEventListener("click", () => copyText(curlFor(form, offersBody(formValues(form))), "The curl command"));
  byId("share-link").addEventListener("click", () => {
    const url = shareUrl(formValues(form));
    window.history.replaceState(null, "", url);
    copyText(url, "The link");
  });
  const box = byId("search");
  box.addEventListener("input", () => search(box));
}

document.addEventListener("DOMContentLoaded", start);
