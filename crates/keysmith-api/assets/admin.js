// Keysmith's Key Master page. Plain JavaScript, no dependencies: it calls the same API as any
// client, with the API key kept in sessionStorage only.
"use strict";

const ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384",
  "ES512", "Ed25519", "HS256", "HS384", "HS512"];
const $ = (id) => document.getElementById(id);
let settings = { expiryWarningDays: 30 };
let current = null; // the key shown in the detail view

function apiKey() { return sessionStorage.getItem("keysmith.apiKey") || ""; }

function show(view) {
  for (const id of ["sign-in", "keys", "detail", "connections"]) $(id).hidden = id !== view;
  $("nav").hidden = view === "sign-in";
  for (const tab of document.querySelectorAll(".tab")) {
    tab.classList.toggle("active", tab.dataset.view === view || (view === "detail" && tab.dataset.view === "keys"));
  }
}

function flash(kind, text) {
  $("error").hidden = kind !== "error";
  $("notice").hidden = kind !== "notice";
  if (kind) $(kind).textContent = text;
}

/// The API's own error messages: FusionAuth's Errors JSON, or Auth0's {message}.
function describe(status, body) {
  if (body && (body.fieldErrors || body.generalErrors)) {
    const details = [];
    for (const [field, errors] of Object.entries(body.fieldErrors || {})) {
      for (const e of errors) details.push(`${field}: ${e.message}`);
    }
    for (const e of body.generalErrors || []) details.push(e.message);
    return details.join("\n");
  }
  if (body && body.message) return body.message;
  if (status === 401) return "The API key was refused (or it may not do this).";
  if (status === 404) return "Not found.";
  return `The server answered ${status}.`;
}

async function call(method, path, body, bearer) {
  const headers = { "Authorization": bearer ? `Bearer ${apiKey()}` : apiKey() };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch (_) { json = null; }
  if (!response.ok) {
    const error = new Error(describe(response.status, json));
    error.status = response.status;
    throw error;
  }
  return json;
}

function fail(error) {
  if (error.status === 401) { sessionStorage.removeItem("keysmith.apiKey"); show("sign-in"); }
  flash("error", error.message);
}

function expiresSoon(key) {
  return key.expirationInstant !== undefined &&
    key.expirationInstant <= Date.now() + settings.expiryWarningDays * 86400000;
}

function date(ms) { return ms === undefined ? "" : new Date(ms).toISOString().slice(0, 10); }

function cell(row, text, className) {
  const td = row.insertCell();
  td.textContent = text;
  if (className) td.className = className;
}

// Each load takes a ticket; only the newest load renders, so a slow older response
// (typing fires one search per keystroke) never replaces a newer result.
const latest = { keys: 0, connections: 0 };

async function loadKeys() {
  const ticket = ++latest.keys;
  const name = $("search").value.trim();
  const params = new URLSearchParams({ numberOfResults: "500", orderBy: "name ASC" });
  if (name) params.set("name", name);
  if ($("filter-type").value) params.set("type", $("filter-type").value);
  if ($("filter-algorithm").value) params.set("algorithm", $("filter-algorithm").value);
  const page = await call("GET", `/api/key/search?${params}`);
  if (ticket !== latest.keys) return;
  const body = document.createElement("tbody");
  for (const key of page.keys) {
    const row = body.insertRow();
    row.dataset.id = key.id;
    if (expiresSoon(key)) { row.classList.add("expiring"); row.title = `Expires within ${settings.expiryWarningDays} days`; }
    cell(row, key.name);
    cell(row, key.algorithm);
    cell(row, key.length === undefined ? "" : String(key.length));
    cell(row, key.hasPrivateKey === undefined ? "—" : key.hasPrivateKey ? "yes" : "no");
    cell(row, date(key.expirationInstant));
    cell(row, key.kid, "kid");
    row.addEventListener("click", () => openKey(key.id).catch(fail));
  }
  $("key-table").tBodies[0].replaceWith(body);
  $("key-count").textContent = `${page.keys.length} of ${page.total} keys`;
}

async function openKey(id) {
  const { key } = await call("GET", `/api/key/${id}`);
  current = key;
  $("detail-name").textContent = key.name;
  $("rename-input").value = key.name;
  const fields = $("detail-fields");
  fields.replaceChildren();
  const info = key.certificateInformation || {};
  const rows = [["Id", key.id], ["Kid", key.kid], ["Algorithm", key.algorithm], ["Type", key.type],
    ["Length", key.length], ["Private key", key.hasPrivateKey], ["Issuer", info.issuer],
    ["Subject", info.subject], ["Valid from", date(info.validFrom)], ["Expires", date(key.expirationInstant)],
    ["SHA-1 fingerprint", info.sha1Fingerprint], ["SHA-256 fingerprint", info.sha256Fingerprint],
    ["x5t", info.sha1Thumbprint], ["x5t#S256", info.sha256Thumbprint]];
  for (const [label, value] of rows) {
    if (value === undefined || value === "") continue;
    const dt = document.createElement("dt"); dt.textContent = label;
    const dd = document.createElement("dd"); dd.textContent = String(value);
    fields.append(dt, dd);
  }
  $("detail-public").textContent = key.publicKey || "(an HMAC key has no public key)";
  $("detail-certificate").textContent = key.certificate || "(none)";
  const jwks = await call("GET", "/.well-known/jwks.json");
  const jwk = (jwks.keys || []).find((k) => k.kid === key.kid);
  $("detail-jwk").textContent = jwk ? JSON.stringify(jwk, null, 2) : "(not published)";
  flash(null);
  show("detail");
}

async function loadConnections() {
  const ticket = ++latest.connections;
  const list = document.createDocumentFragment();
  const connections = await call("GET", "/api/v2/connections", undefined, true);
  if (connections.length === 0) list.append("No connections.");
  for (const connection of connections) {
    const box = document.createElement("div");
    box.className = "connection";
    box.dataset.id = connection.id;
    const title = document.createElement("h3");
    title.textContent = `${connection.name} (${connection.strategy}) · ${connection.id}`;
    const keys = await call("GET", `/api/v2/connections/${connection.id}/keys`, undefined, true);
    const table = document.createElement("table");
    const head = table.createTHead().insertRow();
    for (const h of ["Role", "Use", "Algorithm", "Kid", "Current since", "Fingerprint"]) cell(head, h);
    const body = table.createTBody();
    for (const key of keys) {
      const row = body.insertRow();
      cell(row, key.current ? "current" : key.next ? "next" : "previous");
      cell(row, key.key_use); cell(row, key.algorithm); cell(row, key.kid, "kid");
      cell(row, key.current_since || ""); cell(row, key.fingerprint, "kid");
    }
    const rotate = document.createElement("button");
    rotate.textContent = keys.length ? "Rotate" : "Provision keys";
    rotate.className = "rotate";
    rotate.addEventListener("click", async () => {
      try {
        const path = `/api/v2/connections/${connection.id}/keys${keys.length ? "/rotate" : ""}`;
        await call("POST", path, {}, true);
        flash("notice", keys.length ? `Rotated the keys of ${connection.name}.` : `Provisioned keys for ${connection.name}.`);
        await loadConnections();
      } catch (error) { fail(error); }
    });
    box.append(title, table, rotate);
    list.append(box);
  }
  if (ticket === latest.connections) $("connection-list").replaceChildren(list);
}

function formValues(form) {
  const values = {};
  for (const [name, value] of new FormData(form)) if (String(value).trim() !== "") values[name] = String(value).trim();
  return values;
}

async function signIn(event) {
  event.preventDefault();
  sessionStorage.setItem("keysmith.apiKey", $("api-key").value.trim());
  $("api-key").value = "";
  try {
    await loadKeys();
    flash(null);
    show("keys");
  } catch (error) { fail(error); }
}

function wire() {
  for (const select of [$("filter-algorithm"), $("generate-algorithm"), $("import-algorithm")]) {
    for (const a of ALGORITHMS) select.append(new Option(a, a));
  }
  $("sign-in-form").addEventListener("submit", signIn);
  $("sign-out").addEventListener("click", () => { sessionStorage.removeItem("keysmith.apiKey"); flash(null); show("sign-in"); });
  for (const tab of document.querySelectorAll(".tab")) {
    tab.addEventListener("click", () => {
      show(tab.dataset.view);
      (tab.dataset.view === "keys" ? loadKeys() : loadConnections()).catch(fail);
    });
  }
  for (const id of ["search", "filter-type", "filter-algorithm"]) $(id).addEventListener("input", () => loadKeys().catch(fail));
  $("refresh").addEventListener("click", () => loadKeys().catch(fail));
  $("refresh-connections").addEventListener("click", () => loadConnections().catch(fail));
  $("show-generate").addEventListener("click", () => { $("generate-form").hidden = !$("generate-form").hidden; });
  $("show-import").addEventListener("click", () => { $("import-form").hidden = !$("import-form").hidden; });
  $("generate-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const key = formValues(event.target);
    if (key.length) key.length = Number(key.length);
    try {
      const created = await call("POST", "/api/key/generate", { key });
      event.target.reset(); event.target.hidden = true;
      flash("notice", `Generated ${created.key.name}.`);
      await loadKeys();
    } catch (error) { fail(error); }
  });
  $("import-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const values = formValues(event.target);
    const key = { name: values.name, algorithm: values.algorithm, kid: values.kid };
    const pem = values.pem || "";
    if (pem.includes("PRIVATE KEY")) key.privateKey = pem;
    else if (pem.includes("PUBLIC KEY")) key.publicKey = pem;
    else key.certificate = pem;
    try {
      const created = await call("POST", "/api/key/import", { key });
      event.target.reset(); event.target.hidden = true;
      flash("notice", `Imported ${created.key.name}.`);
      await loadKeys();
    } catch (error) { fail(error); }
  });
  $("back").addEventListener("click", () => { show("keys"); loadKeys().catch(fail); });
  $("rename").addEventListener("click", async () => {
    try {
      const { key } = await call("PUT", `/api/key/${current.id}`, { key: { name: $("rename-input").value.trim() } });
      flash("notice", `Renamed to ${key.name}.`);
      await openKey(key.id);
      flash("notice", `Renamed to ${key.name}.`);
    } catch (error) { fail(error); }
  });
  $("delete").addEventListener("click", async () => {
    if (!confirm(`Delete the key "${current.name}"? Tokens it signed will no longer verify.`)) return;
    try {
      await call("DELETE", `/api/key/${current.id}`);
      flash("notice", `Deleted ${current.name}.`);
      show("keys");
      await loadKeys();
    } catch (error) { fail(error); }
  });
  for (const button of document.querySelectorAll(".copy")) {
    button.addEventListener("click", async () => {
      const text = $(button.dataset.copy).textContent;
      try { await navigator.clipboard.writeText(text); button.textContent = "Copied"; }
      catch (_) { button.textContent = "Select and copy"; }
      setTimeout(() => { button.textContent = "Copy"; }, 1500);
    });
  }
}

document.addEventListener("DOMContentLoaded", async () => {
  wire();
  try { settings = await (await fetch("/admin/settings.json")).json(); } catch (_) { /* defaults */ }
  if (apiKey()) {
    try { await loadKeys(); show("keys"); return; } catch (error) { fail(error); }
  }
  show("sign-in");
});
