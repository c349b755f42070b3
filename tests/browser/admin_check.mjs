// Drives the Key Master page in a real browser (Debian's Chromium through playwright-core) through
// every view: sign in; the keys list (generate, import, search, filter); a key's page (certificate,
// fingerprints, JWK and PEMs with copy and download, where it is used, its audit history; no
// private material anywhere in the page); rename and delete behind the confirmation dialog; a
// connection's page (provision and rotate behind the dialog, the timeline moving one step); the
// tenant's signing keys (create, rotate, revoke); the audit trail (filters, paging, Back); the
// expiry view (a certificate that expires tomorrow highlighted); keyboard navigation; hash links;
// a narrow window. Any console error, page error or CSP violation fails the run, except the HTTP
// refusals a step provokes on purpose. One screenshot per view goes to the artifacts directory.
//
// Usage: node admin_check.mjs BASE_URL API_KEY ARTIFACT_DIR
import { chromium } from "playwright-core";
import { mkdirSync, readFileSync } from "node:fs";
import { execFileSync } from "node:child_process";

const [base, apiKey, artifacts] = process.argv.slice(2);
if (!base || !apiKey || !artifacts) {
  console.error("usage: node admin_check.mjs BASE_URL API_KEY ARTIFACT_DIR");
  process.exit(2);
}
mkdirSync(artifacts, { recursive: true });
const check = (condition, text) => { if (!condition) throw new Error(`FAIL ${text}`); };

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const context = await browser.newContext({
  viewport: { width: 1280, height: 800 },
  permissions: ["clipboard-read", "clipboard-write"],
  acceptDownloads: true,
});
// CSP violations also reach the console, but say so explicitly whatever the browser logs.
await context.addInitScript(() => {
  document.addEventListener("securitypolicyviolation", (e) => {
    console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || "inline"}`);
  });
});
const page = await context.newPage();
const problems = [];
let refusalsExpected = false;
page.on("console", (m) => {
  if (m.type() !== "error") return;
  const text = m.text();
  if (refusalsExpected && /the server responded with a status of 4\d\d/.test(text)) return;
  // The browser asks for /favicon.ico by itself; the server has no icon (and the CSP allows
  // no data: icon), so that one 404 is not the page's.
  if (m.location() && /\/favicon\.ico$/.test(m.location().url)) return;
  const where = m.location() && m.location().url ? ` (${m.location().url})` : "";
  problems.push(`${text}${where}`);
});
page.on("pageerror", (e) => problems.push(`page error: ${e}`));
const step = (text) => {
  check(problems.length === 0, `no console errors, page errors or CSP violations (after: ${text}): ${problems.join(" | ")}`);
  console.log(`ok ${text}`);
};
/// A full-page screenshot, with the mouse out of the way (no hover styles in it).
async function shot(name) {
  await page.mouse.move(1, page.viewportSize().height - 1);
  await page.screenshot({ path: `${artifacts}/${name}.png`, fullPage: true });
}

/// Runs `action`, during which the HTTP 4xx the page logs are expected (a refusal on purpose).
async function refusing(action) {
  refusalsExpected = true;
  try { await action(); await page.waitForTimeout(200); } finally { refusalsExpected = false; }
}
/// Waits until a view is shown and has finished loading.
/// Waits until the view for the current hash is on screen and done loading (the page marks
/// `body[data-rendered]` with the hash it rendered; `hashchange` comes after the hash changes).
async function view(name) {
  await page.waitForFunction(() => document.body.dataset.rendered === location.hash);
  await page.waitForSelector(`#view-${name}:not([hidden])`);
  await page.waitForSelector(`#view-${name}:not([aria-busy])`);
}
async function answerDialog(accept) {
  await page.waitForSelector("#confirm[open]");
  await page.click(accept ? "#confirm-ok" : "#confirm-cancel");
  await page.waitForSelector("#confirm:not([open])", { state: "attached" });
}
const hash = () => page.evaluate(() => location.hash);
const rows = (selector) => page.locator(`${selector} tbody tr`).count();
/// A ring's timeline as {previous, current, next} → kid (null for an empty slot).
const slots = (list) => page.$$eval(`${list} li`, (items) =>
  Object.fromEntries(items.map((li) => [li.dataset.role, li.dataset.kid || null])));
async function api(method, path, body) {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: { Authorization: path.startsWith("/api/v2") ? `Bearer ${apiKey}` : apiKey, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  check(response.ok, `${method} ${path} answered ${response.status}`);
  const text = await response.text();
  return text ? JSON.parse(text) : null;
}
const PRIVATE_JWK_MEMBERS = ["d", "p", "q", "dp", "dq", "qi", "oth", "k", "priv", "seed"];
async function noPrivateMaterial(where) {
  const html = await page.evaluate(() => document.documentElement.outerHTML);
  check(!/PRIVATE KEY/.test(html), `no private key PEM anywhere in the page (${where})`);
  const jwkText = await page.textContent("#key-jwk");
  if (jwkText.trim().startsWith("{")) {
    const jwk = JSON.parse(jwkText);
    const found = PRIVATE_JWK_MEMBERS.filter((m) => m in jwk);
    check(found.length === 0, `the JWK has no private members (${where}): ${found}`);
  }
}

const started = Date.now();
const suffix = started.toString(36);

try {
  // ---- sign in ----
  await page.goto(`${base}/admin`);
  await view("sign-in");
  await refusing(async () => {
    await page.fill("#api-key", "wrong-key");
    await page.click("#sign-in-form button[type=submit]");
    await page.waitForSelector("#error:has-text('refused')");
  });
  check(await page.evaluate(() => sessionStorage.getItem("keysmith.apiKey")) === null, "a refused key is not kept");
  step("a wrong API key shows the API's refusal");

  await page.fill("#api-key", apiKey);
  await page.click("#sign-in-form button[type=submit]");
  await view("keys");
  check(await hash() === "#/keys", "signing in lands on #/keys");
  check(await page.evaluate(() => sessionStorage.getItem("keysmith.apiKey")) !== null, "key in sessionStorage");
  check(await page.evaluate(() => localStorage.length) === 0, "nothing in localStorage");
  check(await page.locator("#nav a[aria-current=page]").textContent() === "Keys", "the Keys link is marked current");
  step("signed in; the key is in sessionStorage only");

  // ---- keys list: generate, import, search ----
  const keyName = `browser-key-${suffix}`;
  await page.click("#show-generate");
  check(await page.getAttribute("#show-generate", "aria-expanded") === "true", "the generate toggle says it is expanded");
  await page.fill("#generate-form [name=name]", keyName);
  await page.selectOption("#generate-algorithm", "ES256");
  await page.click("#generate-form button[type=submit]");
  await page.waitForSelector(`#key-table tr:has-text('${keyName}')`);
  await page.waitForSelector("#notice:has-text('Generated')");
  step("generated a key");

  await refusing(async () => {
    await page.click("#show-generate");
    await page.fill("#generate-form [name=name]", `bad-rsa-${suffix}`);
    await page.selectOption("#generate-algorithm", "RS256");
    await page.click("#generate-form button[type=submit]");
    await page.waitForSelector("#error:has-text('key.length')");
  });
  await page.click("#show-generate");
  step("an invalid generate shows the API's field error");

  // A certificate the openssl command line made that expires tomorrow, imported through the page.
  execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
    "-nodes", "-days", "1", "-subj", "/CN=soon", "-keyout", `${artifacts}/soon.key`, "-out", `${artifacts}/soon.pem`],
  { stdio: "ignore" });
  const soonName = `expiring-soon-${suffix}`;
  await page.click("#show-import");
  await page.fill("#import-form [name=name]", soonName);
  await page.fill("#import-form [name=pem]", readFileSync(`${artifacts}/soon.pem`, "utf8"));
  await page.click("#import-form button[type=submit]");
  await page.waitForSelector(`#key-table tr.expiring:has-text('${soonName}')`);
  check(await page.$(`#key-table tr.expiring:has-text('${keyName}')`) === null, "a ten-year key is not highlighted");
  step("imported a certificate; the list highlights the one expiring within the warning window");

  // The imported certificate's key has its issuer's CN as its issuer; the generated one has the
  // server's default issuer. The issuer filter matches exactly.
  await page.fill("#filter-issuer", "soon");
  await page.waitForFunction((name) => {
    const trs = [...document.querySelectorAll("#key-table tbody tr")];
    return trs.length === 1 && trs[0].textContent.includes(name);
  }, soonName);
  check((await hash()).includes("issuer=soon"), "the issuer filter is in the hash");
  await page.fill("#filter-issuer", "Soon");
  await page.waitForFunction(() => document.querySelectorAll("#key-table tbody tr").length === 0);
  await page.fill("#filter-issuer", "keysmith");
  await page.waitForFunction((name) => {
    const trs = [...document.querySelectorAll("#key-table tbody tr")];
    return trs.some((tr) => tr.textContent.includes(name)) && trs.every((tr) => !tr.textContent.includes("expiring-soon-"));
  }, keyName);
  await page.fill("#filter-issuer", "");
  step("the issuer filter lists one issuer's keys, matched exactly");

  await page.fill("#search", "browser-key-*");
  await page.waitForFunction((name) => {
    const trs = [...document.querySelectorAll("#key-table tbody tr")];
    return trs.length >= 1 && trs.every((tr) => tr.textContent.includes("browser-key-")) && trs.some((tr) => tr.textContent.includes(name));
  }, keyName);
  check((await hash()).includes("name=browser-key-*"), "the search is in the hash");
  await page.fill("#search", keyName);
  await page.waitForFunction(() => document.querySelectorAll("#key-table tbody tr").length === 1);
  await page.selectOption("#filter-algorithm", "RS256");
  await page.waitForFunction(() => document.querySelectorAll("#key-table tbody tr").length === 0);
  await page.selectOption("#filter-algorithm", "ES256");
  await page.waitForFunction(() => document.querySelectorAll("#key-table tbody tr").length === 1);
  step("search and algorithm filter find it");

  // ---- a key's page ----
  await page.click(`#key-table a:has-text('${keyName}')`);
  await view("key");
  check(/^#\/keys\/[0-9a-f-]{36}$/.test(await hash()), "the key's page is #/keys/<id>");
  const key = (await api("GET", `/api/key/${(await hash()).slice(7)}`)).key;
  check(await page.textContent("#key-title") === keyName, "the key's name is the heading");
  const fields = await page.textContent("#key-fields");
  check(fields.includes(key.kid) && fields.includes(key.id), "id and kid shown");
  const cert = await page.textContent("#key-certificate-info");
  const info = key.certificateInformation;
  for (const [label, value] of [["Subject", info.subject], ["Issuer", info.issuer], ["Serial number", info.serialNumber], ["Valid to", "UTC"]]) {
    check(cert.includes(label) && cert.includes(value), `certificate information shows ${label}`);
  }
  const fingerprints = await page.textContent("#key-fingerprints");
  check(fingerprints.includes(info.sha256Fingerprint) && fingerprints.includes(info.sha1Fingerprint), "SHA-256 and SHA-1 fingerprints shown");
  check((await page.textContent("#key-public")) === key.publicKey, "the public key PEM shown");
  check((await page.textContent("#key-certificate")) === key.certificate, "the certificate PEM shown");
  const jwk = JSON.parse(await page.textContent("#key-jwk"));
  check(jwk.kid === key.kid && jwk.kty === "EC" && jwk.x && jwk.y, "the key's JWK shown");
  check((await page.textContent("#key-jwk-source")).includes(`/.well-known/jwks/issuers/${encodeURIComponent(key.issuer)}`),
    "the JWK's source named: its issuer's key set");
  await noPrivateMaterial("a generated key");
  check(await page.locator("#view-key button.copy:enabled").count() === 3, "three copy buttons");
  for (const kind of ["public", "certificate", "jwk"]) {
    check((await page.getAttribute(`#download-${kind}`, "href")).startsWith("blob:"), `the ${kind} download is an object URL`);
  }
  check((await page.textContent("#key-usage")).includes("Not used by the tenant's signing keys or any connection"), "usage: none");
  await page.waitForSelector("#key-audit tbody tr:has-text('key.generate')");
  step("a key's page: certificate, fingerprints, PEMs, JWK, usage, audit history; nothing private");

  await page.click("button[data-copy=key-public]");
  await page.waitForSelector("#notice:has-text('Copied the public key')");
  check(await page.evaluate(() => navigator.clipboard.readText()) === key.publicKey, "the clipboard holds the public key");
  const [download] = await Promise.all([page.waitForEvent("download"), page.click("#download-certificate")]);
  check(download.suggestedFilename() === `${keyName}.certificate.pem`, `download name ${download.suggestedFilename()}`);
  check(readFileSync(await download.path(), "utf8") === key.certificate, "the downloaded certificate is the key's");
  const [jwkDownload] = await Promise.all([page.waitForEvent("download"), page.click("#download-jwk")]);
  check(JSON.parse(readFileSync(await jwkDownload.path(), "utf8")).kid === key.kid, "the downloaded JWK is the key's");
  step("copy puts the PEM on the clipboard; download saves the certificate and the JWK");

  await page.fill("#rename-input", `${keyName}-renamed`);
  await page.click("#rename");
  await page.waitForFunction((name) => document.querySelector("#key-title").textContent === name, `${keyName}-renamed`);
  await page.waitForSelector("#notice:has-text('Renamed')");
  step("renamed it");

  await page.click("#delete");
  await answerDialog(false);
  check(await page.isVisible("#view-key"), "cancel keeps the key");
  await page.click("#delete");
  await page.waitForSelector("#confirm[open]");
  await page.keyboard.press("Escape");
  await page.waitForSelector("#confirm:not([open])", { state: "attached" });
  check(await page.isVisible("#view-key"), "Escape keeps the key");
  await page.click("#delete");
  await answerDialog(true);
  await view("keys");
  await page.waitForSelector("#notice:has-text('Deleted')");
  check(await hash() === "#/keys", "back to the list");
  await page.fill("#search", `${keyName}*`);
  await page.waitForFunction(() => document.querySelectorAll("#key-table tbody tr").length === 0);
  step("deleted it through the confirmation dialog (cancel and Escape keep it)");

  // ---- a connection ----
  const connection = await api("POST", "/api/v2/connections",
    { name: `browser-saml-${suffix}`, strategy: "samlp", display_name: "Browser SAML", rotation_period_seconds: 7776000 });
  await page.click("#nav a[data-route=connections]");
  await view("connections");
  await page.click(`#connection-table a[href='#/connections/${connection.id}']`);
  await view("connection");
  check(await hash() === `#/connections/${connection.id}`, "the connection's page is #/connections/<id>");
  check(await page.getAttribute("#ring-signing-action", "data-action") === "provision", "an unprovisioned ring offers provisioning");
  await page.click("#ring-signing-action");
  await answerDialog(false);
  check(await page.$("#timeline-signing") === null, "cancel provisions nothing");
  await page.click("#ring-signing-action");
  check((await page.textContent("#confirm-text")).includes("current and a next"), "the dialog says what provisioning does");
  await answerDialog(true);
  await page.waitForSelector("#notice:has-text('Provisioned')");
  const first = await slots("#timeline-signing");
  check(first.current && first.next && first.previous === null, `provisioned: current and next, no previous ${JSON.stringify(first)}`);
  step("provisioned a connection's keys through the confirmation step");

  await page.click("#ring-signing-action");
  const rotateText = await page.textContent("#confirm-text");
  check(rotateText.includes(first.next) && rotateText.includes(first.current), "the rotate dialog names the keys that move");
  await answerDialog(true);
  await page.waitForSelector("#notice:has-text('Rotated')");
  const second = await slots("#timeline-signing");
  check(second.previous === first.current && second.current === first.next && second.next && second.next !== first.next,
    `the timeline moved one step ${JSON.stringify(first)} → ${JSON.stringify(second)}`);
  check((await page.textContent("#notice")).includes(second.next), "the notice names the new next key");
  check((await page.textContent("#ring-signing .schedule")).includes("every 90 days, next due"), "the scheduled rotation shown");
  await page.click("#ring-encryption-action");
  await answerDialog(true);
  await page.waitForSelector("#notice:has-text('Provisioned encryption keys')");
  await page.waitForSelector("#timeline-encryption li[data-role=current][data-kid]");
  await shot("admin-connection");
  step("rotated it: previous ← current ← next, with dates and the next scheduled rotation");

  // The ring's current key: its page says where it is used; its delete is refused.
  await page.click("#timeline-signing li[data-role=current] a:has-text('Key page')");
  await view("key");
  const usage = await page.textContent("#key-usage");
  check(usage.includes(`Connection browser-saml-${suffix}`) && usage.includes("signing key") && usage.includes("current"),
    `the key's page says which connection uses it and as what: ${usage}`);
  check((await page.textContent("#key-jwk-source")).includes(`/.well-known/jwks/connections/${connection.id}`), "the ring key's JWK comes from its connection's key set");
  check(JSON.parse(await page.textContent("#key-jwk")).kid === second.current, "the JWK is the current key's");
  await noPrivateMaterial("a ring key");
  await page.waitForSelector("#key-audit tbody tr:has-text('connection.keys.rotate')");
  await shot("admin-key");
  await refusing(async () => {
    await page.click("#delete");
    await answerDialog(true);
    await page.waitForSelector("#error:not(:empty)");
  });
  check((await page.textContent("#error")).includes(connection.id), "the refusal names the connection");
  step("a ring key's page shows its connection, role and ring history; its delete is refused, naming the connection");

  // ---- tenant signing keys ----
  await page.click("#nav a[data-route=signing-keys]");
  await view("signing-keys");
  if (await page.isVisible("#provision-tenant")) {
    await page.click("#provision-tenant");
    await answerDialog(true);
    await page.waitForSelector("#notice:has-text('Created')");
  }
  await page.waitForSelector("#tenant-timeline li[data-role=current][data-kid]");
  const t0 = await slots("#tenant-timeline");
  await page.click("#rotate-tenant");
  await answerDialog(true);
  await page.waitForSelector("#notice:has-text('Rotated')");
  const t1 = await slots("#tenant-timeline");
  check(t1.previous === t0.current && t1.current === t0.next && t1.next && t1.next !== t0.next,
    `tenant keys rotated ${JSON.stringify(t0)} → ${JSON.stringify(t1)}`);
  check(await page.locator("#tenant-timeline li[data-role=current] button.revoke").count() === 0, "only the previous key offers revoke");
  await page.click("#tenant-timeline li[data-role=previous] button.revoke");
  check((await page.textContent("#confirm-title")).includes(t1.previous), "the revoke dialog names the key");
  await answerDialog(true);
  await page.waitForSelector("#notice:has-text('Revoked')");
  await page.waitForSelector(`#revoked-table tr[data-kid='${t1.previous}']`);
  check((await slots("#tenant-timeline")).previous === null, "the revoked key left the previous slot");
  const published = await (await fetch(`${base}/.well-known/jwks/signing-keys`)).json();
  check(!published.keys.some((k) => k.kid === t1.previous), "the revoked key is no longer published");
  await page.click("#rotate-tenant");
  await answerDialog(true);
  await page.waitForSelector("#notice:has-text('Rotated')");
  await page.waitForSelector("#tenant-timeline li[data-role=previous][data-kid]");
  await shot("admin-signing-keys");
  step("tenant signing keys: rotated, previous revoked (leaves the key set), rotated again");

  // ---- keyboard: Tab to a navigation link, Enter follows it ----
  await page.focus("#skip");
  let reached = false;
  for (let i = 0; i < 12 && !reached; i++) {
    await page.keyboard.press("Tab");
    reached = await page.evaluate(() => document.activeElement.matches("#nav a[data-route=audit]"));
  }
  check(reached, "Tab reaches the audit trail link");
  const outline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
  check(outline !== "none", `the focused link shows its focus (outline ${outline})`);
  await page.keyboard.press("Enter");
  await view("audit");
  check(await hash() === "#/audit", "Enter followed the link");
  check(await page.evaluate(() => document.activeElement.id) === "audit-title", "focus moved to the view's heading");
  step("keyboard: Tab to a link, Enter navigates, focus visible and moved to the heading");

  // ---- audit trail: filters, paging, Back ----
  await page.waitForSelector("#audit-table tbody tr td:has-text('signing-keys.revoke')");
  const auditTexts = (column) => page.$$eval(`#audit-table tbody tr td:nth-child(${column})`, (tds) => tds.map((td) => td.textContent));
  await page.fill("#audit-form [name=action]", "connection.keys.rotate");
  await page.click("#audit-form button[type=submit]");
  await page.waitForFunction(() => location.hash.includes("action=connection.keys.rotate"));
  await view("audit");
  const actions = await auditTexts(3);
  check(actions.length >= 1 && actions.every((a) => a.startsWith("connection.keys.rotate")), `action filter: ${actions}`);
  await page.click("#audit-clear");
  await page.waitForFunction(() => location.hash === "#/audit");
  await view("audit");
  await page.fill("#audit-form [name=key]", connection.id);
  await page.click("#audit-form button[type=submit]");
  await page.waitForFunction(() => location.hash.includes("key="));
  await view("audit");
  const targets = await auditTexts(4);
  check(targets.length >= 4 && targets.every((t) => t === connection.id), `key filter: ${targets}`);
  await page.click("#audit-clear");
  await view("audit");
  await page.fill("#audit-form [name=actor]", "api-key:admin:");
  await page.click("#audit-form button[type=submit]");
  await page.waitForFunction(() => location.hash.includes("actor="));
  await view("audit");
  const actors = await auditTexts(2);
  check(actors.length >= 1 && actors.every((a) => a.startsWith("api-key:admin:")), `actor filter: ${actors}`);
  await page.click("#audit-clear");
  await view("audit");
  // A datetime-local input's value as the browser normalizes it: seconds only when they are
  // not zero. Playwright refuses a fill whose value the input then reads differently
  // ("Malformed value"), which happened whenever the clock was at :00 seconds.
  const local = (ms) => {
    const text = new Date(ms).toISOString().slice(0, 19);
    return text.endsWith(":00") ? text.slice(0, 16) : text;
  };
  // A day ahead, on a whole minute: the form without seconds is filled in every run.
  await page.fill("#audit-form [name=from]", local(Math.ceil((Date.now() + 86400000) / 60000) * 60000));
  await page.click("#audit-form button[type=submit]");
  await page.waitForFunction(() => location.hash.includes("from="));
  await view("audit");
  await page.waitForSelector("#audit-table tbody td:has-text('No records match')");
  await page.fill("#audit-form [name=from]", local(started - 60000));
  await page.fill("#audit-form [name=to]", local(Date.now() + 60000));
  await page.click("#audit-form button[type=submit]");
  await page.waitForFunction(() => location.hash.includes("to="));
  await view("audit");
  check(await rows("#audit-table") > 1, "a time range around the run finds its records");
  step("audit trail filters: action, key, actor, time range");

  await page.click("#audit-clear");
  await view("audit");
  await page.selectOption("#audit-form [name=size]", "10");
  await page.click("#audit-form button[type=submit]");
  await page.waitForFunction(() => location.hash.includes("size=10"));
  await view("audit");
  const range1 = await page.textContent("#audit-range");
  check(/^Records 1–10 of (\d+)/.test(range1) && Number(/of (\d+)/.exec(range1)[1]) > 10, `page 1: ${range1}`);
  const firstPage = await auditTexts(1);
  await page.click("#audit-next");
  await page.waitForFunction(() => location.hash.includes("page=1"));
  await view("audit");
  check((await page.textContent("#audit-range")).startsWith("Records 11–"), "page 2");
  const secondPage = await auditTexts(1);
  check(secondPage.join() !== firstPage.join(), "page 2 holds other records");
  await page.goBack();
  await page.waitForFunction(() => !location.hash.includes("page=1"));
  await view("audit");
  await page.waitForSelector("#audit-range:has-text('Records 1–10')");
  await page.click("#audit-clear");
  await view("audit");
  await shot("admin-audit");
  step("audit trail paging; Back returns to the previous page");

  // ---- expiry ----
  await page.click("#nav a[data-route=expiry]");
  await view("expiry");
  const soonRow = page.locator(`#expiry-table tbody tr:has-text('${soonName}')`);
  check((await soonRow.getAttribute("class")).includes("expiring"), "the certificate expiring tomorrow is highlighted");
  check((await soonRow.textContent()).includes("Expires soon"), "and says so");
  const states = await page.$$eval("#expiry-table tbody tr", (trs) => trs.map((tr) => tr.className));
  const firstValid = states.findIndex((c) => !/expir/.test(c));
  check(firstValid > 0 && states.slice(firstValid).every((c) => !/expir/.test(c)), `soonest first: ${states}`);
  const ringRow = page.locator(`#expiry-table tbody tr:has-text('Connection ${connection.id} signing key')`).first();
  check(!(await ringRow.getAttribute("class") || "").includes("expiring"), "a ten-year key is not highlighted");
  const summary = await page.textContent("#expiry-summary");
  check(summary.includes("30 days") && summary.includes("admin_expiry_warning_days"), `the window comes from the server: ${summary}`);
  await shot("admin-expiry");
  await page.goBack();
  await view("audit");
  step("expiry view: soonest first, the one inside the window highlighted; Back works");

  // ---- links, the keys list, a narrow window ----
  await page.goto(`${base}/admin/#/connections/${connection.id}`);
  await view("connection");
  check((await slots("#timeline-signing")).current === second.current, "a link to a connection opens it directly");
  await page.goto(`${base}/admin/#/keys`);
  await view("keys");
  await page.waitForSelector(`#key-table tr.expiring:has-text('${soonName}')`);
  await shot("admin-keys");
  step("hash links open their view directly");

  await page.setViewportSize({ width: 800, height: 900 });
  for (const target of [`#/connections/${connection.id}`, "#/keys", "#/audit", "#/signing-keys", "#/expiry"]) {
    await page.goto(`${base}/admin/${target}`);
    await page.waitForSelector(".view:not([hidden]):not([aria-busy])");
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    check(overflow <= 0, `no sideways scrolling at 800 px on ${target} (${overflow} px too wide)`);
  }
  await page.goto(`${base}/admin/#/connections/${connection.id}`);
  await view("connection");
  await shot("admin-narrow-connection");
  step("usable at 800 px: no view scrolls sideways");

  await page.click("#sign-out");
  await view("sign-in");
  check(await page.evaluate(() => sessionStorage.getItem("keysmith.apiKey")) === null, "signing out forgets the key");
  step("signed out");

  check(problems.length === 0, `no console errors: ${problems.join(" | ")}`);
  console.log("admin page: all checks passed");
} catch (error) {
  await shot("failure").catch(() => {});
  console.error(error);
  if (problems.length) console.error(`console: ${problems.join(" | ")}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
