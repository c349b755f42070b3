// Drives the Key Master page in a real browser (Debian's Chromium through playwright-core):
// sign in, generate a key, find it, open it, rename it, delete it; a refused delete of a key a
// connection uses shows where it is used; a connection's keys rotate. Screenshots go to the
// artifacts directory.
//
// Usage: node admin_check.mjs BASE_URL API_KEY ARTIFACT_DIR
import { chromium } from "playwright-core";
import { mkdirSync, readFileSync } from "node:fs";
import { execFileSync } from "node:child_process";

const [base, apiKey, artifacts] = process.argv.slice(2);
mkdirSync(artifacts, { recursive: true });
const step = (text) => console.log(`ok ${text}`);
const check = (condition, text) => { if (!condition) throw new Error(`FAIL ${text}`); };

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
const consoleErrors = [];
page.on("console", (m) => { if (m.type() === "error") consoleErrors.push(m.text()); });
page.on("pageerror", (e) => consoleErrors.push(String(e)));
const shot = (name) => page.screenshot({ path: `${artifacts}/${name}.png`, fullPage: true });

try {
  await page.goto(`${base}/admin`);
  await page.fill("#api-key", "wrong-key");
  await page.click("#sign-in-form button[type=submit]");
  await page.waitForSelector("#error:not([hidden])");
  check((await page.textContent("#error")).includes("refused"), "a wrong key is refused with a message");
  step("a wrong API key shows the API's refusal");

  await page.fill("#api-key", apiKey);
  await page.click("#sign-in-form button[type=submit]");
  await page.waitForSelector("#keys:not([hidden])");
  check(await page.evaluate(() => sessionStorage.getItem("keysmith.apiKey")) !== null, "key in sessionStorage");
  check(await page.evaluate(() => localStorage.length) === 0, "nothing in localStorage");
  step("signed in; the key is in sessionStorage only");

  await page.click("#show-generate");
  await page.fill("#generate-form [name=name]", "browser-key");
  await page.selectOption("#generate-algorithm", "ES256");
  await page.click("#generate-form button[type=submit]");
  await page.waitForSelector("tr:has-text('browser-key')");
  await shot("keys");
  step("generated a key");

  await page.click("#show-generate");
  await page.fill("#generate-form [name=name]", "bad-rsa");
  await page.selectOption("#generate-algorithm", "RS256");
  await page.click("#generate-form button[type=submit]");
  await page.waitForSelector("#error:not([hidden])");
  check((await page.textContent("#error")).includes("key.length"), "the API's field error is shown");
  step("an invalid generate shows the API's field error");

  // Import, through the page, a certificate the openssl command line made that expires tomorrow:
  // it is highlighted.
  execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
    "-nodes", "-days", "1", "-subj", "/CN=soon", "-keyout", `${artifacts}/soon.key`, "-out", `${artifacts}/soon.pem`],
    { stdio: "ignore" });
  await page.click("#show-import");
  await page.fill("#import-form [name=name]", "expiring-soon");
  await page.fill("#import-form [name=pem]", readFileSync(`${artifacts}/soon.pem`, "utf8"));
  await page.click("#import-form button[type=submit]");
  await page.waitForSelector("tr.expiring:has-text('expiring-soon')");
  check(await page.$("tr.expiring:has-text('browser-key')") === null, "a ten-year key is not highlighted");
  step("imported a certificate; the one expiring within the warning window is highlighted");

  await page.fill("#search", "browser*");
  await page.waitForFunction(() => document.querySelectorAll("#key-table tbody tr").length === 1);
  await page.selectOption("#filter-algorithm", "RS256");
  await page.waitForFunction(() => document.querySelectorAll("#key-table tbody tr").length === 0);
  await page.selectOption("#filter-algorithm", "ES256");
  await page.waitForFunction(() => document.querySelectorAll("#key-table tbody tr").length === 1);
  await shot("search");
  step("search and algorithm filter find it");

  await page.click("tr:has-text('browser-key')");
  await page.waitForSelector("#detail:not([hidden])");
  const kid = await page.textContent("#detail-fields dd:nth-of-type(2)");
  check((await page.textContent("#detail-jwk")).includes(kid), "the JWK of the key is shown");
  check((await page.textContent("#detail-public")).includes("BEGIN PUBLIC KEY"), "public key shown");
  check((await page.textContent("#detail-fields")).includes("SHA-256 fingerprint"), "fingerprints shown");
  await shot("detail");
  step("opened it: fingerprints, public key and JWK");

  await page.fill("#rename-input", "browser-key-renamed");
  await page.click("#rename");
  await page.waitForFunction(() => document.querySelector("#detail-name").textContent === "browser-key-renamed");
  step("renamed it");

  page.once("dialog", (dialog) => dialog.accept());
  await page.click("#delete");
  await page.waitForSelector("#keys:not([hidden])");
  await page.fill("#search", "browser*");
  await page.waitForFunction(() => document.querySelectorAll("#key-table tbody tr").length === 0);
  step("deleted it after confirming");

  // A connection with keys, made through the API: rotate from the page, and a refused delete.
  const auth = { "Authorization": `Bearer ${apiKey}`, "Content-Type": "application/json" };
  const connection = await (await fetch(`${base}/api/v2/connections`, { method: "POST", headers: auth,
    body: JSON.stringify({ name: "browser-saml", strategy: "samlp" }) })).json();
  await page.click("button[data-view=connections]");
  await page.waitForSelector(`.connection[data-id='${connection.id}'] button.rotate`);
  await page.click(`.connection[data-id='${connection.id}'] button.rotate`);
  await page.waitForSelector("#notice:has-text('Provisioned')");
  await page.click(`.connection[data-id='${connection.id}'] button.rotate`);
  await page.waitForSelector("#notice:has-text('Rotated')");
  await page.waitForFunction((id) => document.querySelectorAll(`.connection[data-id='${id}'] tbody tr`).length === 3, connection.id);
  await shot("connections");
  step("provisioned and rotated a connection's keys");

  await page.click("button[data-view=keys]");
  await page.selectOption("#filter-algorithm", "");
  await page.fill("#search", `Connection ${connection.id}*`);
  await page.waitForFunction(() => document.querySelectorAll("#key-table tbody tr").length === 3);
  await page.click("#key-table tbody tr:first-child");
  await page.waitForSelector("#detail:not([hidden])");
  page.once("dialog", (dialog) => dialog.accept());
  await page.click("#delete");
  await page.waitForSelector("#error:not([hidden])");
  check((await page.textContent("#error")).includes(connection.id), "the refusal names the connection");
  await shot("delete-refused");
  step("a delete refused because the key is in use says where");

  check(consoleErrors.filter((e) => !e.includes("status of 4")).length === 0, `no script errors: ${consoleErrors}`);
  console.log("admin page: all checks passed");
} catch (error) {
  await shot("failure").catch(() => {});
  console.error(error);
  process.exitCode = 1;
} finally {
  await browser.close();
}
