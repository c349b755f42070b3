// Keysmith's Key Master page, second edition. Plain JavaScript, no dependencies, no build step:
// it calls the same API as any client, with the API key kept in sessionStorage only. Views are
// addressed by the URL's hash (#/keys, #/keys/<id>, #/connections/<id>, #/signing-keys,
// #/audit?…, #/expiry), so they can be linked to and Back works.
"use strict";

const ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384",
  "ES512", "Ed25519", "ML-DSA-44", "ML-DSA-65", "ML-DSA-87", "HS256", "HS384", "HS512"];
// The algorithms Auth0 allows for a connection's keys, by key use (docs/api.md).
const RING_ALGORITHMS = {
  signing: ["RS256", "RS384", "RS512", "PS256", "PS384", "ES256", "ES384"],
  encryption: ["RS256", "RS384", "RS512"],
};
// The expiry warning window used when the server's /admin/settings.json gives none. The server
// normally gives its `admin_expiry_warning_days` (30 unless configured).
const DEFAULT_EXPIRY_WARNING_DAYS = 30;
// JWK members that would carry private material (RFC 7518, RFC 8037, the ML-DSA draft). The
// server never sends them; the page drops them anyway and says so.
const PRIVATE_JWK_MEMBERS = ["d", "p", "q", "dp", "dq", "qi", "oth", "k", "priv", "seed"];
const KEYS_PAGE = 50;
const CONNECTIONS_PAGE = 25;
const EXPIRY_PAGE = 100;
const USAGE_SCAN_LIMIT = 100; // connections checked for a key whose name names no ring
const DAY = 86400000;
const STORAGE = "keysmith.apiKey";
const VIEWS = ["sign-in", "keys", "key", "connections", "connection", "signing-keys", "audit", "expiry"];
const NAV_OF = { key: "keys", connection: "connections" };
const TITLES = { "sign-in": "Sign in", keys: "Keys", key: "Key", connections: "Connections",
  connection: "Connection", "signing-keys": "Signing keys", audit: "Audit trail", expiry: "Expiry" };
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const $ = (id) => document.getElementById(id);
let settings = { expiryWarningDays: DEFAULT_EXPIRY_WARNING_DAYS, fromServer: false };
let currentKey = null; // the key the key view shows
let objectUrls = []; // download links' object URLs, revoked when the key view changes
let routeTicket = 0; // only the newest navigation renders
let keepFlash = false; // a navigation the page makes itself keeps its message

// ---- small helpers ----

/// An element: `attrs` are attributes, except `class`, `text`, `dataset` and `on<event>`.
function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") e.className = value;
    else if (name === "text") e.textContent = value;
    else if (name === "dataset") Object.assign(e.dataset, value);
    else if (name.startsWith("on")) e.addEventListener(name.slice(2), value);
    else e.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child !== undefined && child !== null && child !== false) e.append(child);
  }
  return e;
}

const link = (href, text, attrs = {}) => el("a", { href, ...attrs }, text);
const code = (text) => el("code", { text });
const badge = (text, kind) => el("span", { class: `badge ${kind || ""}`.trim(), text });
const enc = encodeURIComponent;

function apiKey() { return sessionStorage.getItem(STORAGE) || ""; }

/// Epoch milliseconds as `2026-11-26 08:25:13 UTC`.
function utc(ms) {
  if (ms === undefined || ms === null || Number.isNaN(ms)) return "";
  return new Date(ms).toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
}
function day(ms) { return ms === undefined ? "" : new Date(ms).toISOString().slice(0, 10); }
/// Auth0's ISO-8601 timestamps as epoch milliseconds (undefined when absent).
function iso(text) { return text ? Date.parse(text) : undefined; }

function relative(ms, now = Date.now()) {
  const delta = ms - now;
  const hours = Math.round(Math.abs(delta) / 3600000);
  let amount;
  if (hours < 48) amount = `${hours} hour${hours === 1 ? "" : "s"}`;
  else { const days = Math.round(Math.abs(delta) / DAY); amount = `${days} days`; }
  return delta >= 0 ? `in ${amount}` : `${amount} ago`;
}

function duration(seconds) {
  const units = [[86400, "day"], [3600, "hour"], [60, "minute"], [1, "second"]];
  for (const [size, name] of units) {
    if (seconds % size === 0 && seconds >= size) {
      const n = seconds / size;
      return `${n} ${name}${n === 1 ? "" : "s"}`;
    }
  }
  return `${seconds} seconds`;
}

/// "expired", "expiring" (inside the warning window), "valid", or "none" (no certificate).
function expiryState(ms, now = Date.now()) {
  if (ms === undefined) return "none";
  if (ms <= now) return "expired";
  if (ms <= now + settings.expiryWarningDays * DAY) return "expiring";
  return "valid";
}

function expiryBadge(ms) {
  const state = expiryState(ms);
  if (state === "expired") return badge("Expired", "bad");
  if (state === "expiring") return badge("Expires soon", "warn");
  if (state === "valid") return badge("Valid", "good");
  return null;
}

function pageOf(params) {
  const page = Number.parseInt(params.get("page") || "0", 10);
  return Number.isFinite(page) && page > 0 ? page : 0;
}

function with_(params, name, value) {
  const copy = new URLSearchParams(params);
  if (value === undefined || value === "" || value === 0) copy.delete(name); else copy.set(name, String(value));
  return copy;
}

function hashFor(path, params) {
  const query = params ? params.toString() : "";
  return `#/${path}${query ? `?${query}` : ""}`;
}

function safeFileName(name) { return name.replace(/[^A-Za-z0-9._-]+/g, "-").replace(/^-+|-+$/g, "") || "key"; }

// ---- the API ----

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
  if (status === 429 || status === 503) return "The server is busy: try again in a moment.";
  return `The server answered ${status}.`;
}

/// FusionAuth's routes take the raw key in `Authorization`, Auth0's `/api/v2` routes
/// `Bearer <key>`; the published key sets are anonymous.
async function call(method, path, { body, bearer = false, anonymous = false } = {}) {
  const headers = {};
  if (!anonymous) headers.Authorization = bearer ? `Bearer ${apiKey()}` : apiKey();
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    cache: "no-cache", // revalidate (ETag): a key set must show a rotation at once
  });
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
const fa = (method, path, body) => call(method, path, { body });
const a0 = (method, path, body) => call(method, path, { body, bearer: true });
const anonymous = (path) => call("GET", path, { anonymous: true });

// ---- messages, views, routing ----

function flash(kind, text) {
  $("error").textContent = kind === "error" ? text : "";
  $("notice").textContent = kind === "notice" ? text : "";
}

function fail(error) {
  if (error.status === 401) { signOut(); }
  else if (error.status === undefined) console.error(error); // a fault of the page itself
  flash("error", error.message || String(error));
}

function show(view, { focus = false, title } = {}) {
  for (const id of VIEWS) $(`view-${id}`).hidden = id !== view;
  $("nav").hidden = view === "sign-in";
  const section = NAV_OF[view] || view;
  for (const a of $("nav").querySelectorAll("a")) {
    if (a.dataset.route === section) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  }
  document.title = `${title || TITLES[view]} · Keysmith Key Master`;
  if (focus) {
    const heading = $(`view-${view}`).querySelector("h1");
    if (heading) heading.focus({ preventScroll: false });
  }
}

function parseHash() {
  const raw = location.hash.replace(/^#\/?/, "");
  const at = raw.indexOf("?");
  const path = at < 0 ? raw : raw.slice(0, at);
  const params = new URLSearchParams(at < 0 ? "" : raw.slice(at + 1));
  const parts = path.split("/").filter(Boolean).map((p) => { try { return decodeURIComponent(p); } catch (_) { return p; } });
  return { parts, params };
}

/// Goes to a view: a new history entry, so Back returns. `notice` survives the move.
function go(hash, notice) {
  if (notice) { keepFlash = true; flash("notice", notice); }
  if (location.hash === hash) route(); else location.hash = hash;
}

const stale = (ticket) => ticket !== routeTicket;

/// `body[data-rendered]` names the hash whose view is on screen (absent while one is loading):
/// what a test waits for after a navigation, since `hashchange` fires after the hash changes.
function rendered(ticket) {
  if (!stale(ticket)) document.body.dataset.rendered = location.hash;
}

async function route({ focus = false } = {}) {
  const ticket = ++routeTicket;
  delete document.body.dataset.rendered;
  if (!apiKey()) { show("sign-in", { focus }); rendered(ticket); return; }
  const { parts, params } = parseHash();
  const [section = "keys", id] = parts;
  const loaders = {
    keys: () => (id ? openKey(id, ticket) : loadKeys(params, ticket)),
    connections: () => (id ? openConnection(id, ticket) : loadConnections(params, ticket)),
    "signing-keys": () => loadSigningKeys(ticket),
    audit: () => loadAudit(params, ticket),
    expiry: () => loadExpiry(params, ticket),
  };
  const loader = loaders[section];
  if (!loader) { history.replaceState(null, "", "#/keys"); route({ focus }); return; }
  try {
    const shown = await loader();
    if (shown && !stale(ticket)) show(shown.view, { focus, title: shown.title });
  } catch (error) {
    if (stale(ticket)) return;
    fail(error);
    if (error.status === 404 && apiKey()) {
      // A link to something that is gone: say so instead of leaving another view up.
      for (const view of VIEWS) $(`view-${view}`).hidden = true;
      $("nav").hidden = false;
    }
  }
  rendered(ticket);
}

/// Re-renders the current view after an action, keeping the focus near where it was.
async function refresh(focusId) {
  await route();
  const target = focusId && $(focusId);
  if (target) target.focus();
}

// ---- confirmation ----

/// Asks in a modal dialog; resolves true only for the confirming button (Escape cancels).
function confirmAction({ title, text, ok }) {
  const dialog = $("confirm");
  $("confirm-title").textContent = title;
  $("confirm-text").textContent = text;
  $("confirm-ok").textContent = ok;
  const opener = document.activeElement;
  return new Promise((resolve) => {
    const onClose = () => {
      dialog.removeEventListener("close", onClose);
      resolve(dialog.returnValue === "ok");
      if (opener && opener.isConnected && opener.focus) opener.focus();
    };
    dialog.returnValue = "";
    dialog.addEventListener("close", onClose);
    dialog.showModal();
    $("confirm-cancel").focus();
  });
}

// ---- keys ----

function cell(row, content, className) {
  const td = row.insertCell();
  if (content instanceof Node) td.append(content); else td.textContent = content ?? "";
  if (className) td.className = className;
  return td;
}

function pager(prefix, path, params, page, size, shown, total, noun, more = true) {
  const start = page * size;
  $(`${prefix}-prev`).disabled = page === 0;
  $(`${prefix}-next`).disabled = !more || start + shown >= total;
  $(`${prefix}-prev`).onclick = () => go(hashFor(path, with_(params, "page", page - 1)));
  $(`${prefix}-next`).onclick = () => go(hashFor(path, with_(params, "page", page + 1)));
  return shown === 0 ? `No ${noun}.` : `${noun[0].toUpperCase()}${noun.slice(1)} ${start + 1}–${start + shown} of ${total}`;
}

async function loadKeys(params, ticket) {
  const name = params.get("name") || "";
  const type = params.get("type") || "";
  const algorithm = params.get("algorithm") || "";
  const issuer = params.get("issuer") || "";
  const page = pageOf(params);
  if (document.activeElement !== $("search")) $("search").value = name;
  if (document.activeElement !== $("filter-issuer")) $("filter-issuer").value = issuer;
  $("filter-type").value = type;
  $("filter-algorithm").value = algorithm;
  const query = new URLSearchParams({ numberOfResults: String(KEYS_PAGE), startRow: String(page * KEYS_PAGE), orderBy: "name ASC" });
  if (name) query.set("name", name);
  if (type) query.set("type", type);
  if (algorithm) query.set("algorithm", algorithm);
  if (issuer) query.set("issuer", issuer);
  const result = await fa("GET", `/api/key/search?${query}`);
  if (stale(ticket)) return null;
  const body = document.createElement("tbody");
  for (const key of result.keys) {
    const row = body.insertRow();
    row.dataset.id = key.id;
    const state = expiryState(key.expirationInstant);
    if (state === "expiring" || state === "expired") row.classList.add(state);
    cell(row, link(`#/keys/${enc(key.id)}`, key.name));
    cell(row, key.algorithm);
    cell(row, key.length === undefined ? "" : String(key.length));
    cell(row, key.hasPrivateKey === undefined ? "—" : key.hasPrivateKey ? "yes" : "no");
    const expires = cell(row, day(key.expirationInstant));
    if (state === "expiring" || state === "expired") expires.append(" ", expiryBadge(key.expirationInstant));
    cell(row, key.kid, "mono");
    row.addEventListener("click", (event) => {
      if (!event.target.closest("a")) go(`#/keys/${enc(key.id)}`);
    });
  }
  $("key-table").tBodies[0].replaceWith(body);
  const approximate = result.totalEqualToActual === false ? "+" : "";
  $("key-count").textContent = pager("keys", "keys", params, page, KEYS_PAGE, result.keys.length, result.total, "keys") + approximate;
  return { view: "keys" };
}

function keysFilterChanged() {
  let params = new URLSearchParams();
  params = with_(params, "name", $("search").value.trim());
  params = with_(params, "type", $("filter-type").value);
  params = with_(params, "algorithm", $("filter-algorithm").value);
  params = with_(params, "issuer", $("filter-issuer").value.trim());
  history.replaceState(null, "", hashFor("keys", params));
  route();
}

/// Fills a definition list; an empty one is replaced by `empty`.
function facts(dl, rows, empty) {
  dl.replaceChildren();
  for (const [label, value] of rows) {
    if (value === undefined || value === null || value === "") continue;
    const dd = el("dd", {}, value instanceof Node ? value : String(value));
    dl.append(el("dt", { text: label }), dd);
  }
  let note = dl.nextElementSibling;
  if (!note || !note.classList.contains("empty")) { note = el("p", { class: "hint empty" }); dl.after(note); }
  note.textContent = empty || "";
  note.hidden = dl.children.length > 0;
  dl.hidden = dl.children.length === 0;
}

function revokeObjectUrls() {
  for (const url of objectUrls) URL.revokeObjectURL(url);
  objectUrls = [];
}

/// A block of public material: shown, copyable, and downloadable through an object URL.
function setMaterial(kind, text, fileName, type, absent) {
  const pre = $(`key-${kind}`);
  const download = $(`download-${kind}`);
  const copy = document.querySelector(`.copy[data-copy="key-${kind}"]`);
  pre.classList.toggle("absent", !text);
  pre.textContent = text || absent || "";
  copy.disabled = !text;
  if (text) {
    const url = URL.createObjectURL(new Blob([text], { type }));
    objectUrls.push(url);
    download.href = url;
    download.download = fileName;
    download.hidden = false;
  } else {
    download.removeAttribute("href");
    download.hidden = true;
  }
}

async function openKey(id, ticket) {
  let key;
  try {
    ({ key } = await fa("GET", `/api/key/${enc(id)}`));
  } catch (error) {
    if (error.status === 404) error.message = `There is no key ${id}: it may have been deleted.`;
    throw error;
  }
  if (stale(ticket)) return null;
  currentKey = key;
  revokeObjectUrls();
  $("key-title").textContent = key.name;
  $("key-crumb").textContent = key.name;
  $("rename-input").value = key.name;
  const badges = [badge(key.algorithm), badge(key.type)];
  if (key.hasPrivateKey === true) badges.push(badge("private key stored"));
  if (key.hasPrivateKey === false) badges.push(badge("public only"));
  if (key.type === "HMAC") badges.push(badge("secret stored, never shown"));
  const expiry = expiryBadge(key.expirationInstant);
  if (expiry) badges.push(expiry);
  $("key-badges").replaceChildren(...badges.flatMap((b) => [b, " "]));

  const info = key.certificateInformation || {};
  const validTo = info.validTo ?? key.expirationInstant;
  const validToCell = validTo === undefined ? undefined
    : el("span", {}, `${utc(validTo)} (${relative(validTo)}) `, expiryBadge(validTo));
  const mono = (value) => (value === undefined || value === "" ? undefined : code(String(value)));
  facts($("key-certificate-info"), [
    ["Subject", mono(info.subject)], ["Issuer", mono(info.issuer)], ["Serial number", mono(info.serialNumber)],
    ["Valid from", info.validFrom === undefined ? undefined : utc(info.validFrom)], ["Valid to", validToCell],
  ], key.type === "HMAC" ? "An HMAC key has no certificate." : "No certificate information.");
  facts($("key-fingerprints"), [
    ["SHA-256", mono(info.sha256Fingerprint)], ["SHA-1", mono(info.sha1Fingerprint)], ["MD5", mono(info.md5Fingerprint)],
    ["x5t#S256", mono(info.sha256Thumbprint)], ["x5t", mono(info.sha1Thumbprint)],
  ], "Fingerprints are taken over the certificate; this key has none.");
  facts($("key-fields"), [
    ["Id", mono(key.id)], ["Kid", mono(key.kid)], ["Algorithm", key.algorithm], ["Type", key.type],
    ["Length", key.length], ["Private key", key.hasPrivateKey === undefined ? undefined : key.hasPrivateKey ? "stored (never shown)" : "none"],
    ["Issuer name", key.issuer], ["Inserted", utc(key.insertInstant)], ["Last updated", utc(key.lastUpdateInstant)],
  ]);

  const base = safeFileName(key.name);
  setMaterial("public", key.publicKey, `${base}.public.pem`, "application/x-pem-file", "An HMAC key has no public key.");
  setMaterial("certificate", key.certificate, `${base}.certificate.pem`, "application/x-pem-file",
    key.type === "HMAC" ? "An HMAC key has no certificate." : "No certificate.");
  setMaterial("jwk", "", "", "", "Loading…");
  $("key-jwk-source").textContent = "";
  $("key-usage").replaceChildren(el("p", { class: "hint", text: "Looking…" }));
  $("key-audit").tBodies[0].replaceChildren();
  $("key-audit-link").href = hashFor("audit", new URLSearchParams({ key: key.id }));

  // The parts that need more requests load after the view shows; the view is busy meanwhile.
  const view = $("view-key");
  view.setAttribute("aria-busy", "true");
  const usage = findUsage(key).catch((error) => ({ error }));
  const parts = [
    usage.then((found) => { if (!stale(ticket)) renderUsage(found); }),
    usage.then((found) => loadJwk(key, found.uses || [], ticket)),
    usage.then((found) => loadKeyAudit(key, found.uses || [], ticket)),
  ];
  Promise.allSettled(parts).then(() => { if (!stale(ticket)) view.removeAttribute("aria-busy"); });
  return { view: "key", title: key.name };
}

function roleOf(k) { return k.revoked ? "revoked" : k.current ? "current" : k.next ? "next" : k.previous ? "previous" : "unknown"; }

/// Which rings use a key. The key object does not say, so: the ring its name names (ring keys
/// are named `Connection <id> <use> key #N` and `Tenant signing key #N`), the tenant's published
/// keys, and otherwise the keys of the first connections.
async function findUsage(key) {
  const uses = [];
  const result = { uses, checked: 0, total: 0 };
  if (key.type === "HMAC" || key.hasPrivateKey === false) {
    result.note = "Rings use keys the server generated for them, never HMAC or public-only keys.";
    return result;
  }
  const tenantJwks = await anonymous("/.well-known/jwks/signing-keys");
  const tenantExists = (tenantJwks.keys || []).length > 0; // before first use, no ring: do not make one
  if (tenantExists && (/^Tenant signing key #\d+$/.test(key.name) || tenantJwks.keys.some((k) => k.kid === key.kid))) {
    const ring = await a0("GET", "/api/v2/keys/signing");
    const found = ring.find((k) => k.kid === key.kid);
    if (found) uses.push({ kind: "tenant", role: roleOf(found), keyUse: "signing", ring: found });
  }
  const checkConnection = async (connection) => {
    const keys = await a0("GET", `/api/v2/connections/${enc(connection.id)}/keys`);
    const found = keys.find((k) => k.kid === key.kid);
    if (found) uses.push({ kind: "connection", connection, role: roleOf(found), keyUse: found.key_use, ring: found });
    return Boolean(found);
  };
  const named = /^Connection (\S+) (signing|encryption) key #\d+$/.exec(key.name);
  if (named) {
    try {
      const connection = await a0("GET", `/api/v2/connections/${enc(named[1])}`);
      if (await checkConnection(connection)) return result;
    } catch (error) { if (error.status !== 404) throw error; }
  }
  if (uses.length) return result;
  const page = await a0("GET", `/api/v2/connections?per_page=${USAGE_SCAN_LIMIT}&page=0&include_totals=true`);
  result.total = page.total;
  const queue = [...page.connections];
  result.checked = queue.length;
  const worker = async () => { while (queue.length) await checkConnection(queue.shift()); };
  await Promise.all([worker(), worker(), worker(), worker()]);
  return result;
}

function renderUsage(found) {
  const box = $("key-usage");
  if (found.error) { box.replaceChildren(el("p", { class: "error-text", text: `Could not look: ${found.error.message}` })); return; }
  const items = found.uses.map((use) => {
    const owner = use.kind === "tenant"
      ? link("#/signing-keys", "Tenant signing keys")
      : link(`#/connections/${enc(use.connection.id)}`, `Connection ${use.connection.name}`);
    const history = link(hashFor("audit", new URLSearchParams({ key: use.kind === "tenant" ? "tenant" : use.connection.id })), "ring history");
    const since = use.ring.current_since
      ? el("span", { class: "nowrap", text: `current since ${utc(iso(use.ring.current_since))}` }) : null;
    return el("li", {}, el("strong", {}, owner), " ", badge(use.role, `role-${use.role}`), " ",
      el("span", { class: "nowrap", text: `${use.keyUse} key` }), since ? " · " : null, since, " · ", history);
  });
  const children = [];
  if (items.length) children.push(el("ul", { class: "plain" }, items));
  else if (found.note) children.push(el("p", { text: `Not used by a key ring. ${found.note}` }));
  else {
    let text = "Not used by the tenant's signing keys or any connection";
    if (found.total > found.checked) text += ` (checked the first ${found.checked} of ${found.total} connections)`;
    children.push(el("p", { text: `${text}.` }));
  }
  box.replaceChildren(...children);
}

/// The key's JWK, from the scoped key set of its ring or its issuer, else the full JWKS, with
/// nothing private.
async function loadJwk(key, uses, ticket) {
  if (key.type === "HMAC") {
    if (!stale(ticket)) { setMaterial("jwk", "", "", "", "HMAC keys are never published."); $("key-jwk-source").textContent = ""; }
    return;
  }
  const sources = [];
  for (const use of uses) {
    if (use.kind === "connection" && use.keyUse === "signing") sources.push(`/.well-known/jwks/connections/${enc(use.connection.id)}`);
    if (use.kind === "tenant") sources.push("/.well-known/jwks/signing-keys");
  }
  if (key.issuer) sources.push(`/.well-known/jwks/issuers/${enc(key.issuer)}`);
  sources.push("/.well-known/jwks.json");
  let found = null;
  let source = null;
  try {
    for (const path of sources) {
      const set = await anonymous(path);
      found = (set.keys || []).find((k) => k.kid === key.kid);
      if (found) { source = path; break; }
    }
  } catch (error) {
    if (!stale(ticket)) setMaterial("jwk", "", "", "", `Could not read the key set: ${error.message}`);
    return;
  }
  if (stale(ticket)) return;
  if (!found) {
    setMaterial("jwk", "", "", "", "Not published: a revoked or encryption key is not in the JWKS.");
    $("key-jwk-source").textContent = "";
    return;
  }
  const dropped = PRIVATE_JWK_MEMBERS.filter((m) => m in found);
  const jwk = Object.fromEntries(Object.entries(found).filter(([m]) => !PRIVATE_JWK_MEMBERS.includes(m)));
  setMaterial("jwk", JSON.stringify(jwk, null, 2), `${safeFileName(key.name)}.jwk.json`, "application/jwk+json");
  $("key-jwk-source").replaceChildren("Published in ", link(source, source), ".",
    dropped.length ? ` Private members were dropped: ${dropped.join(", ")}.` : "");
}

function auditRow(body, record, withTarget) {
  const data = record.data || {};
  const row = body.insertRow();
  cell(row, utc(record.insertInstant), "nowrap");
  cell(row, data.actor ?? record.insertUser, "mono");
  const action = cell(row, data.action ?? "");
  if (data.uses) action.append(" ", badge(`×${data.uses.count}`));
  if (withTarget) cell(row, targetLink(data.target || ""), "mono");
  const ok = data.result === "ok" || /^2\d\d$/.test(String(data.result));
  cell(row, badge(String(data.result ?? ""), ok ? "good" : "bad"));
  cell(row, data.request_id || "", "mono");
}

function targetLink(target) {
  if (UUID.test(target)) return link(`#/keys/${enc(target)}`, target);
  if (/^con_[A-Za-z0-9]+$/.test(target)) return link(`#/connections/${enc(target)}`, target);
  if (target === "tenant") return link("#/signing-keys", "tenant");
  return target;
}

/// The key's records (target: its id or kid) and, for a ring key, its ring's records since the
/// key was made: rotations are recorded against the ring's owner, not the keys they move.
async function loadKeyAudit(key, uses, ticket) {
  const searches = [...new Set([key.id, key.kid].filter(Boolean))].map((text) => ({ text }));
  for (const use of uses) {
    searches.push({ text: use.kind === "tenant" ? "tenant" : use.connection.id, start: String(key.insertInstant) });
  }
  const body = $("key-audit").tBodies[0];
  try {
    const pages = await Promise.all(searches.map((search) =>
      fa("GET", `/api/system/audit-log/search?${new URLSearchParams({ ...search, numberOfResults: "50" })}`)));
    if (stale(ticket)) return;
    const seen = new Map();
    for (const page of pages) for (const record of page.auditLogs) seen.set(record.id, record);
    const records = [...seen.values()].sort((a, b) => b.insertInstant - a.insertInstant || b.id - a.id).slice(0, 50);
    body.replaceChildren();
    for (const record of records) auditRow(body, record, true);
    if (!records.length) cell(body.insertRow(), "No records.").colSpan = 6;
  } catch (error) {
    if (stale(ticket)) return;
    body.replaceChildren();
    cell(body.insertRow(), `Could not read the audit trail: ${error.message}`).colSpan = 6;
  }
}

// ---- connections ----

async function loadConnections(params, ticket) {
  const page = pageOf(params);
  const result = await a0("GET", `/api/v2/connections?per_page=${CONNECTIONS_PAGE}&page=${page}&include_totals=true`);
  if (stale(ticket)) return null;
  const body = document.createElement("tbody");
  for (const connection of result.connections) {
    const row = body.insertRow();
    row.dataset.id = connection.id;
    const name = link(`#/connections/${enc(connection.id)}`, connection.name);
    cell(row, connection.display_name ? el("span", {}, name, el("span", { class: "hint", text: ` ${connection.display_name}` })) : name);
    cell(row, connection.strategy);
    cell(row, connection.id, "mono");
    cell(row, periodText(connection.rotation_period_seconds));
    row.addEventListener("click", (event) => { if (!event.target.closest("a")) go(`#/connections/${enc(connection.id)}`); });
  }
  $("connection-table").tBodies[0].replaceWith(body);
  $("connection-count").textContent = pager("connections", "connections", params, page, CONNECTIONS_PAGE,
    result.connections.length, result.total, "connections");
  return { view: "connections" };
}

function periodText(seconds) {
  if (seconds === undefined) return "server default";
  if (seconds === 0) return "off";
  return `every ${duration(seconds)}`;
}

/// When a ring's next scheduled rotation is due, as far as the API says.
function scheduleText(periodSeconds, currentSince, setting) {
  if (periodSeconds === undefined) {
    return `Scheduled rotation: the server's ${setting}, which the API does not expose.`;
  }
  if (periodSeconds === 0) return "Scheduled rotation: off. This ring rotates only when asked.";
  if (currentSince === undefined) return `Scheduled rotation: every ${duration(periodSeconds)}, counted from when a key becomes current.`;
  const due = currentSince + periodSeconds * 1000;
  const when = due <= Date.now() ? `due since ${utc(due)}: the scheduler rotates it at its next check`
    : `next due ${utc(due)} (${relative(due)})`;
  return `Scheduled rotation: every ${duration(periodSeconds)}, ${when}.`;
}

const ROLE_TEXT = {
  signing: {
    previous: "Still verifies tokens it signed; leaves at the next rotation.",
    current: "Signs new tokens.",
    next: "Published ahead; becomes current at the next rotation.",
  },
  encryption: {
    previous: "Kept for what was encrypted to it; leaves at the next rotation.",
    current: "In use for encryption.",
    next: "Becomes current at the next rotation.",
  },
};

/// One ring's previous → current → next as an ordered list of cards.
function timeline(list, ringKeys, fusionKeys, use, extra) {
  const byRole = Object.fromEntries(ringKeys.map((k) => [roleOf(k), k]));
  const currentSince = iso(byRole.current && byRole.current.current_since);
  list.replaceChildren();
  for (const role of ["previous", "current", "next"]) {
    const k = byRole[role];
    const item = el("li", { class: `slot role-${role}`, dataset: { role } });
    item.append(el("h3", {}, badge(role, `role-${role}`)));
    if (!k) {
      item.classList.add("empty");
      item.append(el("p", { class: "hint", text: role === "previous" ? "None yet: the ring has not rotated." : "None." }));
      list.append(item);
      continue;
    }
    item.dataset.kid = k.kid;
    const fusion = fusionKeys.get(k.kid);
    const rows = [["Kid", code(k.kid)]];
    const algorithm = k.algorithm || (fusion && fusion.algorithm); // signing keys' shape has none
    if (algorithm) rows.push(["Algorithm", algorithm]);
    if (k.current_since) rows.push(["Current since", utc(iso(k.current_since))]);
    if (k.current_until) rows.push(["Current until", utc(iso(k.current_until))]);
    else if (role === "previous" && currentSince !== undefined) rows.push(["Replaced", utc(currentSince)]);
    if (fusion && fusion.expirationInstant !== undefined) {
      rows.push(["Certificate to", el("span", {}, `${day(fusion.expirationInstant)} `, expiryBadge(fusion.expirationInstant))]);
    }
    rows.push(["SHA-1", code(k.fingerprint)]);
    const dl = el("dl", { class: "facts compact" });
    for (const [label, value] of rows) dl.append(el("dt", { text: label }), el("dd", {}, value));
    item.append(dl, el("p", { class: "hint", text: ROLE_TEXT[use][role] }));
    const links = [];
    if (fusion) links.push(link(`#/keys/${enc(fusion.id)}`, "Key page", { "aria-label": `Key page of the ${role} key` }));
    if (extra) { const more = extra(role, k); if (more) links.push(more); }
    if (links.length) item.append(el("p", { class: "slot-actions" }, links.flatMap((l, i) => (i ? [" ", l] : [l]))));
    list.append(item);
  }
}

/// The FusionAuth key objects of ring keys, by kid (for their ids and certificate dates).
async function fusionKeysNamed(pattern) {
  const map = new Map();
  try {
    const result = await fa("GET", `/api/key/search?${new URLSearchParams({ name: pattern, numberOfResults: "500" })}`);
    for (const key of result.keys) map.set(key.kid, key);
  } catch (_) { /* links and dates are extras */ }
  return map;
}

async function openConnection(id, ticket) {
  const [connection, keys, fusionKeys] = await Promise.all([
    a0("GET", `/api/v2/connections/${enc(id)}`),
    a0("GET", `/api/v2/connections/${enc(id)}/keys`),
    fusionKeysNamed(`Connection ${id} *`),
  ]);
  if (stale(ticket)) return null;
  $("connection-title").textContent = connection.display_name || connection.name;
  $("connection-crumb").textContent = connection.name;
  facts($("connection-fields"), [
    ["Name", connection.name], ["Id", code(connection.id)], ["Display name", connection.display_name],
    ["Strategy", connection.strategy], ["Rotation period", periodText(connection.rotation_period_seconds)],
    ["Published keys", link(`/.well-known/jwks/connections/${enc(connection.id)}`, `/.well-known/jwks/connections/${connection.id}`)],
    ["History", link(hashFor("audit", new URLSearchParams({ key: connection.id })), "Audit records of this connection")],
  ]);
  const rings = $("connection-rings");
  rings.replaceChildren();
  for (const use of ["signing", "encryption"]) {
    const ringKeys = keys.filter((k) => k.key_use === use);
    const provisioned = ringKeys.length > 0;
    const current = ringKeys.find((k) => k.current);
    const select = el("select", { id: `ring-${use}-alg` },
      RING_ALGORITHMS[use].map((a) => el("option", { value: a, text: a, selected: current ? current.algorithm === a : a === "RS256" })));
    const action = el("button", {
      type: "button", id: `ring-${use}-action`, class: "primary", dataset: { action: provisioned ? "rotate" : "provision", use },
      text: provisioned ? "Rotate…" : "Provision…",
      onclick: () => ringAction(connection, use, ringKeys, select.value),
    });
    const list = el("ol", { class: "timeline", id: `timeline-${use}`, "aria-label": `Previous, current and next ${use} keys` });
    const section = el("section", { class: "card ring", id: `ring-${use}`, "aria-labelledby": `ring-${use}-title` },
      el("div", { class: "material-head" },
        el("h2", { id: `ring-${use}-title`, tabindex: "-1", text: use === "signing" ? "Signing keys" : "Encryption keys" }),
        el("div", { class: "actions" },
          el("label", { class: "inline" }, provisioned ? "New next key's algorithm " : "Algorithm ", select), action)));
    if (provisioned) {
      section.append(el("p", { class: "hint schedule", text: scheduleText(connection.rotation_period_seconds, iso(current && current.current_since), "rotation_connection_period_seconds") }));
      timeline(list, ringKeys, fusionKeys, use);
      section.append(list);
    } else {
      section.append(el("p", { class: "hint", text: use === "signing"
        ? "No signing keys yet: provision a current and a next key."
        : "No encryption keys (Keysmith's second ring, for SAML-style encryption; RSA only, never published)." }));
    }
    rings.append(section);
  }
  return { view: "connection", title: connection.name };
}

async function ringAction(connection, use, ringKeys, algorithm) {
  const what = `${use} keys`;
  const byRole = Object.fromEntries(ringKeys.map((k) => [roleOf(k), k]));
  const rotate = ringKeys.length > 0;
  const text = rotate
    ? [`The next key ${byRole.next ? byRole.next.kid : ""} becomes current${use === "signing" ? " and signs from now on" : ""};`,
      `the current key ${byRole.current ? byRole.current.kid : ""} becomes previous;`,
      byRole.previous ? `the previous key ${byRole.previous.kid} is deleted and leaves the key set;` : "",
      `a new ${algorithm} next key is generated.`].filter(Boolean).join(" ")
    : `A current and a next ${algorithm} key are generated for ${connection.name}.`;
  const ok = await confirmAction({
    title: rotate ? `Rotate the ${what} of ${connection.name}?` : `Provision ${what} for ${connection.name}?`,
    text, ok: rotate ? "Rotate" : "Provision",
  });
  if (!ok) return;
  const body = { signing_alg: algorithm };
  if (use !== "signing") body.key_use = use;
  try {
    const result = await a0("POST", `/api/v2/connections/${enc(connection.id)}/keys${rotate ? "/rotate" : ""}`, body);
    await refresh(`ring-${use}-title`);
    flash("notice", rotate
      ? `Rotated the ${what} of ${connection.name}: the new next key is ${result.kid}.`
      : `Provisioned ${what} for ${connection.name}.`);
  } catch (error) { fail(error); }
}

// ---- tenant signing keys ----

async function loadSigningKeys(ticket) {
  // Auth0 makes the tenant's keys on the first GET; look at the published set first so that
  // visiting this view changes nothing.
  const published = await anonymous("/.well-known/jwks/signing-keys");
  if (stale(ticket)) return null;
  const exists = (published.keys || []).length > 0;
  $("provision-tenant").hidden = exists;
  $("rotate-tenant").hidden = !exists;
  const revokedBody = $("revoked-table").tBodies[0];
  revokedBody.replaceChildren();
  if (!exists) {
    $("tenant-timeline").replaceChildren();
    $("signing-schedule").textContent = "The tenant has no signing keys yet: they are made on first use.";
    cell(revokedBody.insertRow(), "None.").colSpan = 5;
    return { view: "signing-keys" };
  }
  const [ring, fusionKeys] = await Promise.all([a0("GET", "/api/v2/keys/signing"), fusionKeysNamed("Tenant signing key*")]);
  if (stale(ticket)) return null;
  const current = ring.find((k) => k.current);
  $("signing-schedule").textContent = scheduleText(undefined, iso(current && current.current_since), "rotation_tenant_period_seconds");
  const live = ring.filter((k) => !k.revoked);
  timeline($("tenant-timeline"), live, fusionKeys, "signing", (role, k) => (role === "previous"
    ? el("button", { type: "button", class: "danger revoke", dataset: { kid: k.kid }, text: "Revoke…",
      "aria-label": `Revoke the previous key ${k.kid}`, onclick: () => revokeTenantKey(k) })
    : null));
  for (const k of ring.filter((x) => x.revoked)) {
    const row = revokedBody.insertRow();
    row.dataset.kid = k.kid;
    const fusion = fusionKeys.get(k.kid);
    cell(row, fusion ? link(`#/keys/${enc(fusion.id)}`, k.kid) : k.kid, "mono");
    cell(row, utc(iso(k.current_since)), "nowrap");
    cell(row, utc(iso(k.current_until)), "nowrap");
    cell(row, utc(iso(k.revoked_at)), "nowrap");
    cell(row, k.fingerprint, "mono");
  }
  if (!revokedBody.rows.length) cell(revokedBody.insertRow(), "None.").colSpan = 5;
  return { view: "signing-keys" };
}

async function provisionTenant() {
  const ok = await confirmAction({
    title: "Create the tenant's signing keys?",
    text: "Keysmith generates a current and a next key (tenant_signing_alg, RS256 by default) and publishes both.",
    ok: "Create",
  });
  if (!ok) return;
  try {
    await a0("GET", "/api/v2/keys/signing");
    await refresh("signing-ring-title");
    flash("notice", "Created the tenant's signing keys.");
  } catch (error) { fail(error); }
}

async function rotateTenant() {
  let ring;
  try { ring = await a0("GET", "/api/v2/keys/signing"); } catch (error) { fail(error); return; }
  const byRole = Object.fromEntries(ring.filter((k) => !k.revoked).map((k) => [roleOf(k), k]));
  const ok = await confirmAction({
    title: "Rotate the tenant's signing keys?",
    text: [`The next key ${byRole.next ? byRole.next.kid : ""} becomes current and signs from now on;`,
      `the current key ${byRole.current ? byRole.current.kid : ""} becomes previous and still verifies;`,
      byRole.previous ? `the previous key ${byRole.previous.kid} is revoked (kept and listed, never published);` : "",
      "a new next key is generated."].filter(Boolean).join(" "),
    ok: "Rotate",
  });
  if (!ok) return;
  try {
    const result = await a0("POST", "/api/v2/keys/signing/rotate");
    await refresh("signing-ring-title");
    flash("notice", `Rotated the tenant's signing keys: the new next key is ${result.kid}.`);
  } catch (error) { fail(error); }
}

async function revokeTenantKey(k) {
  const ok = await confirmAction({
    title: `Revoke the signing key ${k.kid}?`,
    text: "It leaves the published key sets at once, tokens it signed stop validating, and it never signs again. This cannot be undone.",
    ok: "Revoke",
  });
  if (!ok) return;
  try {
    await a0("PUT", `/api/v2/keys/signing/${enc(k.kid)}/revoke`);
    await refresh("signing-ring-title");
    flash("notice", `Revoked the signing key ${k.kid}.`);
  } catch (error) { fail(error); }
}

// ---- audit trail ----

/// `datetime-local` values are read as UTC (the page shows every time in UTC).
function utcInput(value) {
  if (!value) return undefined;
  const ms = Date.parse(`${value.length === 16 ? `${value}:00` : value}Z`);
  return Number.isNaN(ms) ? undefined : ms;
}

async function loadAudit(params, ticket) {
  const form = $("audit-form");
  const actor = params.get("actor") || "";
  const action = params.get("action") || "";
  const keyText = params.get("key") || "";
  const from = params.get("from") || "";
  const to = params.get("to") || "";
  const size = ["10", "25", "50", "100"].includes(params.get("size")) ? params.get("size") : "25";
  const page = pageOf(params);
  for (const [name, value] of Object.entries({ actor, action, key: keyText, from, to, size })) form.elements[name].value = value;
  const query = new URLSearchParams({ startRow: String(page * Number(size)), numberOfResults: size });
  if (action) query.set("action", action);
  // The API has one text filter, matched against actor or target: the key filter goes there
  // when given (it is the narrower), and the actor filter is applied to the page's rows.
  const text = keyText || actor;
  if (text) query.set("text", text);
  const start = utcInput(from);
  const end = utcInput(to);
  if (start !== undefined) query.set("start", String(start));
  if (end !== undefined) query.set("end", String(end));
  if (start !== undefined && end !== undefined && start > end) {
    flash("error", "“From” is after “To”.");
    $("audit-table").tBodies[0].replaceChildren();
    $("audit-range").textContent = "";
    return { view: "audit" };
  }
  const result = await fa("GET", `/api/system/audit-log/search?${query}`);
  if (stale(ticket)) return null;
  let records = result.auditLogs;
  let hidden = 0;
  if (actor) {
    const before = records.length;
    records = records.filter((r) => String((r.data && r.data.actor) ?? r.insertUser).includes(actor));
    hidden = before - records.length;
  }
  const body = document.createElement("tbody");
  for (const record of records) auditRow(body, record, true);
  if (!records.length) cell(body.insertRow(), "No records match.").colSpan = 6;
  $("audit-table").tBodies[0].replaceWith(body);
  const notes = [];
  if (actor && keyText) notes.push("The API takes one text filter (actor or target): the key went to the server and the actor is applied to each page's rows, so the total counts records before the actor filter.");
  if (hidden) notes.push(`${hidden} record${hidden === 1 ? "" : "s"} on this page matched the text in the target only and ${hidden === 1 ? "is" : "are"} hidden.`);
  $("audit-note").textContent = notes.join(" ");
  const n = Number(size);
  const shown = result.auditLogs.length;
  $("audit-range").textContent = shown === 0 ? "No records."
    : `Records ${page * n + 1}–${page * n + shown} of ${result.total}, newest first`;
  $("audit-prev").disabled = page === 0;
  $("audit-next").disabled = page * n + shown >= result.total;
  $("audit-prev").onclick = () => go(hashFor("audit", with_(params, "page", page - 1)));
  $("audit-next").onclick = () => go(hashFor("audit", with_(params, "page", page + 1)));
  return { view: "audit" };
}

function auditFilterSubmitted(event) {
  event.preventDefault();
  const form = event.target;
  let params = new URLSearchParams();
  for (const name of ["actor", "action", "key", "from", "to"]) params = with_(params, name, form.elements[name].value.trim());
  if (form.elements.size.value !== "25") params.set("size", form.elements.size.value);
  go(hashFor("audit", params));
}

// ---- expiry ----

async function loadExpiry(params, ticket) {
  const page = pageOf(params);
  const query = new URLSearchParams({ orderBy: "expiration ASC", numberOfResults: String(EXPIRY_PAGE), startRow: String(page * EXPIRY_PAGE) });
  const result = await fa("GET", `/api/key/search?${query}`);
  if (stale(ticket)) return null;
  // Keys without a certificate (HMAC) sort last; they never expire and are left out.
  const keys = result.keys.filter((k) => k.expirationInstant !== undefined);
  const body = document.createElement("tbody");
  const counts = { expired: 0, expiring: 0 };
  for (const key of keys) {
    const state = expiryState(key.expirationInstant);
    if (state in counts) counts[state] += 1;
    const row = body.insertRow();
    row.dataset.id = key.id;
    if (state === "expired" || state === "expiring") row.classList.add(state);
    cell(row, link(`#/keys/${enc(key.id)}`, key.name));
    cell(row, key.algorithm);
    cell(row, utc(key.expirationInstant), "nowrap");
    cell(row, relative(key.expirationInstant));
    cell(row, expiryBadge(key.expirationInstant));
    row.addEventListener("click", (event) => { if (!event.target.closest("a")) go(`#/keys/${enc(key.id)}`); });
  }
  if (!keys.length) cell(body.insertRow(), "No keys with a certificate.").colSpan = 5;
  $("expiry-table").tBodies[0].replaceWith(body);
  const windowText = `${settings.expiryWarningDays} days`;
  const source = settings.fromServer ? "the server's admin_expiry_warning_days" : "the page's default: the server gave none";
  const atLeast = counts.expiring + counts.expired === keys.length && keys.length === EXPIRY_PAGE ? "at least " : "";
  $("expiry-summary").replaceChildren(
    page === 0 ? `${atLeast}${counts.expired} expired, ${atLeast}${counts.expiring} expiring within the warning window of ` : "Warning window: ",
    el("strong", { text: windowText }), ` (${source}). Soonest first; HMAC keys have no certificate and are not listed.`);
  const more = keys.length === result.keys.length;
  $("expiry-count").textContent = pager("expiry", "expiry", params, page, EXPIRY_PAGE, keys.length, result.total, "keys", more);
  return { view: "expiry" };
}

// ---- sign in and out, wiring ----

function signOut() {
  sessionStorage.removeItem(STORAGE);
  currentKey = null;
  revokeObjectUrls();
  for (const id of ["key-public", "key-certificate", "key-jwk"]) $(id).textContent = "";
  show("sign-in");
}

async function signIn(event) {
  event.preventDefault();
  sessionStorage.setItem(STORAGE, $("api-key").value.trim());
  $("api-key").value = "";
  try {
    await fa("GET", "/api/key/search?numberOfResults=1");
    flash(null);
    if (!parseHash().parts.length) history.replaceState(null, "", "#/keys");
    await route({ focus: true });
  } catch (error) { fail(error); }
}

function formValues(form) {
  const values = {};
  for (const [name, value] of new FormData(form)) if (String(value).trim() !== "") values[name] = String(value).trim();
  return values;
}

function toggle(button, form) {
  form.hidden = !form.hidden;
  button.setAttribute("aria-expanded", String(!form.hidden));
  if (!form.hidden) form.querySelector("input").focus();
}

async function copyMaterial(button) {
  const source = $(button.dataset.copy);
  const label = button.textContent;
  try {
    await navigator.clipboard.writeText(source.textContent);
    button.textContent = "Copied";
    flash("notice", `${button.getAttribute("aria-label").replace(/^Copy/, "Copied")} to the clipboard.`);
  } catch (_) {
    const range = document.createRange();
    range.selectNodeContents(source);
    const selection = getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    flash("notice", "The browser did not allow the clipboard: the text is selected, press Ctrl+C.");
  }
  setTimeout(() => { button.textContent = label; }, 1500);
}

function wire() {
  for (const select of [$("filter-algorithm"), $("generate-algorithm"), $("import-algorithm")]) {
    for (const a of ALGORITHMS) select.append(new Option(a, a));
  }
  $("skip").addEventListener("click", (event) => { event.preventDefault(); $("main").focus(); });
  $("sign-in-form").addEventListener("submit", signIn);
  $("sign-out").addEventListener("click", () => { flash(null); signOut(); });
  $("search").addEventListener("input", keysFilterChanged);
  $("filter-type").addEventListener("change", keysFilterChanged);
  $("filter-algorithm").addEventListener("change", keysFilterChanged);
  $("filter-issuer").addEventListener("input", keysFilterChanged);
  $("refresh").addEventListener("click", () => route());
  $("refresh-connections").addEventListener("click", () => route());
  $("show-generate").addEventListener("click", () => toggle($("show-generate"), $("generate-form")));
  $("show-import").addEventListener("click", () => toggle($("show-import"), $("import-form")));
  $("generate-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const key = formValues(event.target);
    if (key.length) key.length = Number(key.length);
    try {
      const created = await fa("POST", "/api/key/generate", { key });
      event.target.reset();
      toggle($("show-generate"), event.target);
      await route();
      flash("notice", `Generated ${created.key.name}.`);
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
      const created = await fa("POST", "/api/key/import", { key });
      event.target.reset();
      toggle($("show-import"), event.target);
      await route();
      flash("notice", `Imported ${created.key.name}.`);
    } catch (error) { fail(error); }
  });
  $("rename").addEventListener("click", async () => {
    try {
      const { key } = await fa("PUT", `/api/key/${enc(currentKey.id)}`, { key: { name: $("rename-input").value.trim() } });
      await route();
      flash("notice", `Renamed to ${key.name}.`);
    } catch (error) { fail(error); }
  });
  $("delete").addEventListener("click", async () => {
    const key = currentKey;
    const ok = await confirmAction({
      title: `Delete the key “${key.name}”?`,
      text: "Tokens it signed will no longer validate, and it leaves the JWKS at once. A key ring's current, next or previous key cannot be deleted.",
      ok: "Delete",
    });
    if (!ok) return;
    try {
      await fa("DELETE", `/api/key/${enc(key.id)}`);
      go("#/keys", `Deleted ${key.name}.`);
    } catch (error) { fail(error); }
  });
  for (const button of document.querySelectorAll(".copy")) button.addEventListener("click", () => copyMaterial(button));
  $("provision-tenant").addEventListener("click", provisionTenant);
  $("rotate-tenant").addEventListener("click", rotateTenant);
  $("audit-form").addEventListener("submit", auditFilterSubmitted);
  $("audit-clear").addEventListener("click", () => go("#/audit"));
  $("confirm-ok").addEventListener("click", () => $("confirm").close("ok"));
  $("confirm-cancel").addEventListener("click", () => $("confirm").close("cancel"));
  window.addEventListener("hashchange", () => {
    if (!keepFlash) flash(null);
    keepFlash = false;
    route({ focus: true });
  });
}

document.addEventListener("DOMContentLoaded", async () => {
  wire();
  try {
    const response = await fetch("/admin/settings.json");
    const body = response.ok ? await response.json() : {};
    if (Number.isFinite(body.expiryWarningDays)) settings = { expiryWarningDays: body.expiryWarningDays, fromServer: true };
  } catch (_) { /* the page's default */ }
  if (apiKey() && !parseHash().parts.length) history.replaceState(null, "", "#/keys");
  route();
});
