// The web interface in headless Chromium, driven by playwright-core: what a person does, step by step.
// Run by bins/packyard/tests/e2e_ui.rs, which starts packyard, the fake upstreams and npm, and passes
// everything through the environment. Fails (exit 1) at the first step that does not hold.
import { createRequire } from "node:module";
import { execFileSync } from "node:child_process";
import { cpSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const env = process.env;
const require = createRequire(join(env.PLAYWRIGHT_DIR, "package.json"));
const { chromium } = require("playwright-core");

const BASE = env.BASE;
const SHOTS = env.SHOTS;
mkdirSync(SHOTS, { recursive: true });

let current = "start";
function step(name) {
  current = name;
  console.log(`step: ${name}`);
}
function check(condition, message) {
  if (!condition) throw new Error(`${current}: ${message}`);
}
async function shot(page, name) {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

// Labels on every field, one h1, no skipped heading level, named controls, text contrast of 4.5:1.
async function checkAccessible(page, name) {
  const problems = await page.evaluate(() => {
    const out = [];
    const h1 = document.querySelectorAll("h1");
    if (h1.length !== 1) out.push(`${h1.length} h1 elements`);
    let last = 0;
    for (const h of document.querySelectorAll("h1, h2, h3, h4")) {
      const level = Number(h.tagName[1]);
      if (level > last + 1) out.push(`${h.tagName} after h${last}: ${h.textContent}`);
      last = level;
    }
    for (const field of document.querySelectorAll("input:not([type=hidden]), select, textarea")) {
      if ((!field.labels || field.labels.length === 0) && !field.getAttribute("aria-label")) {
        out.push(`field without a label: ${field.name}`);
      }
    }
    for (const control of document.querySelectorAll("a, button, summary")) {
      if (!control.textContent.trim()) out.push(`control without a name: ${control.outerHTML.slice(0, 60)}`);
    }
    const channel = (v) => {
      v /= 255;
      return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
    };
    const luminance = (color) => {
      const [r, g, b] = color.match(/[\d.]+/g).map(Number);
      return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
    };
    const background = (el) => {
      for (; el; el = el.parentElement) {
        const c = getComputedStyle(el).backgroundColor;
        if (c && c !== "transparent" && !c.startsWith("rgba(0, 0, 0, 0)")) return c;
      }
      return "rgb(255, 255, 255)";
    };
    for (const el of document.querySelectorAll("p, td, th, a, button, label, h1, h2, h3, code, summary, dt, dd, li")) {
      if (!el.textContent.trim() || el.closest(".sr, .skip")) continue;
      const a = luminance(getComputedStyle(el).color);
      const b = luminance(background(el));
      const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
      if (ratio < 4.5) out.push(`contrast ${ratio.toFixed(2)}:1 of ${el.tagName} "${el.textContent.trim().slice(0, 30)}"`);
    }
    return out;
  });
  check(problems.length === 0, `${name}: ${problems.join("; ")}`);
}

// POST forms a page shows besides signing out: the edit controls.
async function editForms(page) {
  return page.locator('form[method="post"]:not([action$="/sign-out"])').count();
}

async function signIn(context, username, token) {
  const page = await context.newPage();
  await page.goto(`${BASE}/-/ui/sign-in`);
  await page.fill("#username", username);
  await page.fill("#token", token);
  await page.click("button[type=submit]");
  await page.waitForURL(/\/-\/ui\/groups$/);
  return page;
}

async function upstreamOrder(page) {
  return page.locator("tr.upstream").evaluateAll((rows) => rows.map((r) => r.dataset.name));
}

const browser = await chromium.launch({
  executablePath: env.CHROMIUM,
  args: ["--no-sandbox", "--disable-gpu"],
});
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: BASE });
  const page = await context.newPage();
  // Destructive forms ask first; the person answers yes.
  const questions = [];
  page.on("dialog", async (dialog) => {
    questions.push(dialog.message());
    await dialog.accept();
  });

  step("a page without a session leads to sign-in");
  await page.goto(`${BASE}/-/ui/groups/${env.GROUP_ID}`);
  check(page.url().includes("/-/ui/sign-in?next="), `landed on ${page.url()}`);
  await checkAccessible(page, "sign-in");

  step("sign in with the keyboard only");
  await page.keyboard.press("Tab");
  check(await page.evaluate(() => document.activeElement.id) === "username", "Tab reaches the username first");
  await page.keyboard.type("admin");
  await page.keyboard.press("Tab");
  await page.keyboard.type(env.ADMIN_TOKEN);
  await shot(page, "sign-in");
  await page.keyboard.press("Enter");
  await page.waitForURL(new RegExp(`/-/ui/groups/${env.GROUP_ID}$`));
  await checkAccessible(page, "group");
  await page.keyboard.press("Tab");
  check(await page.evaluate(() => document.activeElement.textContent) === "Skip to content", "Tab reaches the skip link first");
  await page.keyboard.press("Enter");
  check(page.url().endsWith("#main"), "the skip link leads to the content");

  step("create a Maven virtual registry");
  await page.selectOption("#registry-format", "maven");
  await page.fill("#registry-name", "mirror");
  await page.fill("#registry-description", "Maven Central and Debian's Maven repository");
  await page.click("text=Create registry");
  await page.waitForURL(/\/-\/ui\/registries\/maven\/\d+$/);
  const registryUrl = page.url();

  step("add two upstreams");
  for (const [name, url] of [["lang3", env.UPSTREAM_A], ["debian", env.UPSTREAM_B]]) {
    await page.click("details.add > summary");
    await page.fill("#new-url", url);
    await page.fill("#new-name", name);
    await page.click("text=Add upstream");
    await page.waitForURL(registryUrl);
  }
  check(JSON.stringify(await upstreamOrder(page)) === '["lang3","debian"]', "upstreams in the order added");
  await checkAccessible(page, "registry");

  step("reorder them");
  await page.click('tr.upstream[data-name="debian"] button:has-text("Move up")');
  await page.waitForURL(registryUrl);
  check(JSON.stringify(await upstreamOrder(page)) === '["debian","lang3"]', "debian moved first");

  step("test the connection");
  await page.click('tr.upstream[data-name="debian"] button:has-text("Test connection")');
  await page.waitForSelector(".notice");
  check((await page.textContent(".notice")).includes("Connection test succeeded"), await page.textContent(".notice"));

  step("pull an artifact with mvn, configured from the page");
  await page.goto(registryUrl);
  const shownUrl = (await page.textContent("#registry-url")).trim();
  const settings = (await page.textContent("#config-1")).replace("YOUR_TOKEN", env.ADMIN_TOKEN);
  check(settings.includes(`<url>${shownUrl}</url>`), "settings.xml names the registry's URL");
  const work = env.WORK;
  writeFileSync(join(work, "settings.xml"), settings);
  const project = join(work, "maven-app");
  cpSync(env.MAVEN_FIXTURE, project, { recursive: true });
  execFileSync(
    "mvn",
    ["-B", "-ntp", "-C", "-s", join(work, "settings.xml"), `-Dmaven.repo.local=${join(work, "m2")}`, "package"],
    { cwd: project, stdio: "inherit", timeout: 600_000 },
  );

  step("see the cache entry appear");
  await page.goto(registryUrl);
  await page.fill("#cache-search", "commons-lang3-3.12.0.jar");
  await page.click("button:has-text('Search')");
  await page.waitForSelector("tr.entry");
  const paths = await page.locator("tr.entry td:first-child").allTextContents();
  check(paths.includes("org/apache/commons/commons-lang3/3.12.0/commons-lang3-3.12.0.jar"), `entries: ${paths}`);
  await page.fill("#cache-search", "commons-lang3");
  await page.click("button:has-text('Search')");
  await page.waitForSelector("tr.entry");
  await shot(page, "registry");
  await page.fill("#cache-search", "");
  await page.click("button:has-text('Search')");
  await page.waitForSelector("tr.entry");
  check(Number(await page.textContent("#cache-total")) > 10, "the whole build is cached");
  await checkAccessible(page, "registry with cache");

  step("purge it");
  await page.click("button:has-text('Purge the cache')");
  await page.waitForURL(registryUrl);
  check((await page.textContent("#cache-total")).trim() === "0", "nothing cached after the purge");
  check(questions.some((q) => q.startsWith("Purge")), `asked first: ${questions}`);

  step("open a hosted npm package and copy its install command");
  await page.goto(`${BASE}/-/ui/groups/${env.GROUP_ID}`);
  await shot(page, "group");
  await page.click("a:has-text('packyard-demo')");
  await page.waitForURL(/\/packages\//);
  await checkAccessible(page, "package");
  check((await page.textContent(".description")).includes("A demo of the web interface"), "the description shows");
  await page.click("button:has-text('the npm command')");
  const copied = await page.evaluate(() => navigator.clipboard.readText());
  check(
    copied === `npm install packyard-demo@1.0.0 --registry=${BASE}/company/acme/package/-/npm/`,
    `copied ${copied}`,
  );
  await shot(page, "package");

  step("create a deploy token, see it once, revoke it");
  await page.goto(`${BASE}/-/ui/groups/${env.GROUP_ID}`);
  await page.click("a:has-text('Deploy tokens')");
  await page.fill("#token-name", "ci-ui");
  await page.check('input[name="scope"][value="read_virtual_registry"]');
  await page.click("button:has-text('Create token')");
  const secret = (await page.textContent("#new-token")).trim();
  check(secret.startsWith("pydt-"), `shown ${secret}`);
  await checkAccessible(page, "deploy tokens");
  const registryId = registryUrl.split("/").pop();
  const pull = `${BASE}/api/v4/virtual_registries/packages/maven/${registryId}/org/apache/commons/commons-lang3/3.12.0/commons-lang3-3.12.0.pom`;
  check((await fetch(pull, { headers: { "Deploy-Token": secret } })).status === 200, "the new token pulls");
  await page.reload();
  check(!(await page.content()).includes(secret), "the token is not shown again");
  check(await page.locator('tr.token[data-name="ci-ui"]').count() === 1, "one token made");
  await page.click('tr.token[data-name="ci-ui"] button:has-text("Revoke")');
  await page.waitForSelector('tr.token[data-name="ci-ui"] >> text=revoked');
  await shot(page, "deploy-tokens");
  // Instances learn of a revocation from the change generations they read every second.
  let refused = 0;
  for (const deadline = Date.now() + 5000; refused !== 401 && Date.now() < deadline; ) {
    refused = (await fetch(pull, { headers: { "Deploy-Token": secret } })).status;
    if (refused !== 401) await new Promise((resolve) => setTimeout(resolve, 200));
  }
  check(refused === 401, `the revoked token is refused within 5 s (${refused})`);

  step("personal tokens and administration");
  await page.goto(`${BASE}/-/ui/tokens`);
  await checkAccessible(page, "tokens");
  await shot(page, "tokens");
  await page.goto(`${BASE}/-/ui/admin`);
  await checkAccessible(page, "admin");
  check((await page.textContent("main")).includes("Ready: every check passed."), "the instance is ready");
  await shot(page, "admin");

  step("a Guest sees no edit controls");
  const guestContext = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const guest = await signIn(guestContext, "", env.GUEST_TOKEN);
  await guest.goto(`${BASE}/-/ui/groups/${env.GROUP_ID}`);
  check(await editForms(guest) === 0, "no edit forms on the group page");
  check(await guest.locator("text=Deploy tokens").count() === 0, "no deploy tokens link");
  await guest.goto(registryUrl);
  check(await editForms(guest) === 0, "no edit forms on the registry page");
  check(await guest.locator("text=Add an upstream").count() === 0, "no upstream form");
  await shot(guest, "registry-guest");

  step("a non-member sees nothing of the group");
  const outsiderContext = await browser.newContext();
  const outsider = await signIn(outsiderContext, "outsider", env.OUTSIDER_TOKEN);
  check(!(await outsider.textContent("main")).includes("acme"), "the group is not listed");
  for (const url of [`${BASE}/-/ui/groups/${env.GROUP_ID}`, registryUrl]) {
    const answer = await outsider.goto(url);
    check(answer.status() === 404, `${url} answered ${answer.status()}`);
    check(!(await outsider.content()).includes("mirror"), "nothing of the group shows");
  }
  console.log("flows: ok");
} catch (error) {
  console.error(`flows failed at "${current}": ${error.stack || error}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
