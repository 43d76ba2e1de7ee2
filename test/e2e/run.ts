/**
 * `npm run test:e2e`: the demo page in a real browser against a real `npm start`.
 *
 * Starts `npm start` on a free port with a throwaway data dir and short timeouts, waits for
 * health, then drives headless Chromium (playwright-core + /usr/bin/chromium, never a
 * downloaded browser) through: (a) two users match and both confirm, (b) a lone user times out,
 * (c) a decline sends the partner back to the queue, (d) a second tab takes over the first, (e) one
 * user challenges another and both reach the ready screen, (f) the operators' dashboard shows a
 * bucket and a match, (g) roles, history and blocks on the demo page, (h) the dashboard's
 * maintenance switch refuses a join; and
 * the API docs page (Swagger UI) renders from this server alone and sends the token it is given.
 * Screenshots go to test-results/e2e/. `E2E_ONLY=<regex>` runs only the scenarios it matches.
 * Every wait is bounded; the server's process group is stopped at the end, even on failure.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createWriteStream, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
import { isRunning as alive, descendantsOf, freePort } from "../support/localProcesses.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const OUT = join(ROOT, "test-results", "e2e");
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const MATCH_TIMEOUT_SECONDS = 8;
const CONFIRM_TIMEOUT_SECONDS = 15;
const READY_TIMEOUT_MS = 180_000;
const SCENARIO_TIMEOUT_MS = 90_000;
const STEP_TIMEOUT_MS = 15_000;
const STOP_GRACE_MS = 15_000;

const run = Math.random().toString(36).slice(2, 8);
const results: Array<{ name: string; ok: boolean; error?: string; ms: number }> = [];
let server: ChildProcess | undefined;
let serverPids: number[] = [];
let browser: Browser | undefined;

function log(line: string): void {
  console.log(line);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function withTimeout<T>(what: string, ms: number, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no result within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

// ---- the server ------------------------------------------------------------------------------

async function startServer(port: number, dataDir: string): Promise<string> {
  const logFile = createWriteStream(join(OUT, "server.log"));
  let tail = "";
  const child = spawn("npm", ["start"], {
    cwd: ROOT,
    detached: true, // its own process group, so one signal reaches npm and start.ts
    stdio: ["ignore", "pipe", "pipe"],
    env: {
      ...process.env,
      PORT: String(port),
      LOCAL_DATA_DIR: dataDir,
      MATCH_TIMEOUT_SECONDS: String(MATCH_TIMEOUT_SECONDS),
      CONFIRM_TIMEOUT_SECONDS: String(CONFIRM_TIMEOUT_SECONDS),
      WRANGLER_SEND_METRICS: "false",
    },
  });
  server = child;
  const keep = (chunk: Buffer) => {
    logFile.write(chunk);
    tail = (tail + chunk.toString()).slice(-4000);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);

  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`npm start exited early (${child.exitCode}):\n${tail}`);
    try {
      const res = await fetch(`${base}/api/v1/matching/health`, { signal: AbortSignal.timeout(3000) });
      if (res.status === 200) {
        serverPids = descendantsOf(child.pid ?? -1);
        return base;
      }
    } catch {
      // not up yet
    }
    await sleep(500);
  }
  throw new Error(`health did not answer 200 within ${READY_TIMEOUT_MS} ms:\n${tail}`);
}

/** SIGTERM the whole group (start.ts then stops wrangler's own group); SIGKILL what is left. */
async function stopServer(): Promise<void> {
  const child = server;
  if (!child?.pid) return;
  server = undefined;
  const pids = [...new Set([...serverPids, ...descendantsOf(child.pid)])];
  try {
    process.kill(-child.pid, "SIGTERM");
  } catch {
    // already gone
  }
  const deadline = Date.now() + STOP_GRACE_MS;
  while (Date.now() < deadline && [child.pid, ...pids].some(alive)) await sleep(200);
  const left = [child.pid, ...pids].filter(alive);
  if (left.length > 0) {
    log(`! server processes still running after ${STOP_GRACE_MS} ms; killing ${left.join(", ")}`);
    for (const pid of left) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // gone meanwhile
      }
    }
  }
}

// ---- the page ------------------------------------------------------------------------------

type User = { name: string; context: BrowserContext; page: Page };

async function openUser(
  base: string,
  name: string,
  viewport = { width: 900, height: 760 },
  shots?: string,
): Promise<User> {
  if (!browser) throw new Error("no browser");
  const context = await browser.newContext({ viewport, reducedMotion: "reduce" });
  context.setDefaultTimeout(STEP_TIMEOUT_MS);
  const page = await context.newPage();
  page.on("pageerror", (error) => log(`  [${name}] page error: ${error.message}`));
  page.on("response", (res) => {
    // The popular-topics endpoint may not exist; the page falls back to its default list.
    if (res.status() >= 400 && !res.url().endsWith("/topics/popular"))
      log(`  [${name}] ${res.status()} for ${res.request().method()} ${res.url()}`);
  });
  await page.goto(base, { timeout: STEP_TIMEOUT_MS });
  await screen(page, "signin");
  // Keyboard sign-in: the name field is labelled, Enter submits.
  await page.getByLabel("Your name").fill(name);
  if (shots) await page.screenshot({ path: join(OUT, `${shots}-signin.png`), fullPage: true });
  await page.getByLabel("Your name").press("Enter");
  await screen(page, "join");
  if (shots) await page.screenshot({ path: join(OUT, `${shots}-join.png`), fullPage: true });
  return { name, context, page };
}

async function screen(page: Page, name: string, timeout = STEP_TIMEOUT_MS): Promise<void> {
  await page.waitForSelector(`body[data-screen="${name}"]`, { timeout });
}

async function joinBucket(
  user: User,
  difficulty: string,
  topic: string,
  also = "",
  role: "Either" | "Interviewer" | "Interviewee" = "Either",
): Promise<void> {
  await user.page.getByLabel("Difficulty", { exact: true }).selectOption(difficulty);
  await user.page.getByLabel("Topic", { exact: true }).fill(topic);
  await user.page.getByLabel(/Other topics/).fill(also);
  await user.page.getByLabel(role, { exact: true }).check();
  await user.page.getByRole("button", { name: "Find a partner" }).click();
  // Wait for the server's `queued` frame (position filled in), or a partner found at once.
  await user.page.waitForFunction(
    () =>
      document.body.dataset.screen === "found" ||
      (document.body.dataset.screen === "queued" &&
        /^\d+$/.test(document.getElementById("q-position")?.textContent ?? "")),
    null,
    { timeout: STEP_TIMEOUT_MS },
  );
}

async function text(page: Page, selector: string): Promise<string> {
  return (await page.locator(selector).textContent({ timeout: STEP_TIMEOUT_MS }))?.trim() ?? "";
}

function expectThat(condition: boolean, message: string): void {
  if (!condition) throw new Error(message);
}

/** Both on the ready screen: each with the other as partner, one match id, the bucket, announced. */
async function expectMatchedTogether(a: User, b: User, difficulty: string, topic: string): Promise<void> {
  for (const [u, partner] of [
    [a, b.name],
    [b, a.name],
  ] as const) {
    expectThat((await text(u.page, "#r-partner")) === partner, `${u.name} should be matched with ${partner}`);
    expectThat((await text(u.page, "#r-match")).startsWith("mat_"), `${u.name} should see a match id`);
    expectThat(
      (await text(u.page, "#r-bucket")) === `${difficulty} · ${topic}`,
      `${u.name} should see the bucket ${difficulty} · ${topic}`,
    );
    expectThat(
      /Matched with/.test(await text(u.page, "#announcer")),
      `${u.name}'s live region should announce the match`,
    );
  }
  const ids = [await text(a.page, "#r-match"), await text(b.page, "#r-match")];
  expectThat(ids[0] === ids[1], `both should see one match, got ${ids.join(" and ")}`);
}

async function shot(user: User, file: string): Promise<void> {
  await user.page.screenshot({ path: join(OUT, file), fullPage: true, timeout: STEP_TIMEOUT_MS });
}

/** The dashboard at `/admin`, signed in with the development admin token (keyboard: Tab, Enter). */
async function openDashboard(
  base: string,
  users: User[],
  viewport = { width: 1100, height: 900 },
): Promise<User> {
  if (!browser) throw new Error("no browser");
  const context = await browser.newContext({ viewport, reducedMotion: "reduce" });
  context.setDefaultTimeout(STEP_TIMEOUT_MS);
  const page = await context.newPage();
  const admin: User = { name: `admin-${viewport.width}`, context, page };
  users.push(admin);
  page.on("pageerror", (error) => log(`  [admin] page error: ${error.message}`));
  // Every second rather than 5 s, so a change shows well within the short queue timeout here.
  await page.goto(`${base}/admin?every=1`, { timeout: STEP_TIMEOUT_MS });
  await screen(page, "signin");
  const button = page.getByRole("button", { name: "Use a development admin token" });
  await button.waitFor();
  await button.focus();
  await page.keyboard.press("Enter");
  await screen(page, "board");
  await page.waitForSelector("body[data-loaded=true]");
  return admin;
}

/**
 * A bucket's row of the dashboard's table (bucket, waiting, p50, p95, matches in the last hour),
 * once its cell `column` says `value`: the page updates itself, so this waits for it.
 */
async function bucketRow(admin: User, room: string, column: number, value: string): Promise<string[]> {
  const handle = await admin.page.waitForFunction(
    ({ room, column, value }) => {
      const row = document.querySelector(`#buckets tr[data-room="${room}"]`);
      const cells = row ? Array.from(row.children, (c) => c.textContent?.trim() ?? "") : [];
      return cells[column] === value ? cells : false;
    },
    { room, column, value },
    { timeout: 20_000 },
  );
  return (await handle.jsonValue()) as string[];
}

/** Whom `userId` has blocked, as the server holds it. */
async function blockedBy(base: string, userId: string): Promise<string[]> {
  const minted = await fetch(`${base}/api/v1/matching/dev/token`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ userId }),
  });
  const { token } = (await minted.json()) as { token: string };
  const res = await fetch(`${base}/api/v1/matching/me/blocks`, {
    headers: { authorization: `Bearer ${token}` },
  });
  return ((await res.json()) as { blocked: Array<{ userId: string }> }).blocked.map((b) => b.userId);
}

/** Switch maintenance from the dashboard: the button, then the confirmation dialog. */
async function switchMaintenance(admin: User, on: boolean): Promise<void> {
  const action = on ? "Pause matching" : "Resume matching";
  await admin.page.getByRole("button", { name: `${action}…` }).click();
  const dialog = admin.page.getByRole("dialog");
  await dialog.waitFor();
  await admin.page.screenshot({ path: join(OUT, `h1-dashboard-confirm-${on ? "pause" : "resume"}.png`) });
  await dialog.getByRole("button", { name: action, exact: true }).click();
  await admin.page.waitForSelector(`#m-state[data-on="${on}"]`, { timeout: STEP_TIMEOUT_MS });
}

/** `E2E_ONLY=<regex>` runs only the scenarios whose name matches, while working on one. */
const ONLY = process.env.E2E_ONLY ? new RegExp(process.env.E2E_ONLY, "i") : undefined;

async function scenario(name: string, body: (users: User[]) => Promise<void>): Promise<void> {
  if (ONLY && !ONLY.test(name)) return;
  const started = Date.now();
  const users: User[] = [];
  try {
    await withTimeout(name, SCENARIO_TIMEOUT_MS, body(users));
    results.push({ name, ok: true, ms: Date.now() - started });
    log(`✓ ${name} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    results.push({ name, ok: false, error: message, ms: Date.now() - started });
    log(`✗ ${name}\n    ${message.split("\n").join("\n    ")}`);
    for (const u of users) {
      await u.page
        .screenshot({
          path: join(OUT, `FAILED-${name.replace(/\W+/g, "-")}-${u.name}.png`),
          fullPage: true,
          timeout: 5000,
        })
        .catch(() => undefined);
    }
  } finally {
    for (const u of users) await u.context.close().catch(() => undefined);
  }
}

async function main(): Promise<number> {
  rmSync(OUT, { recursive: true, force: true });
  mkdirSync(OUT, { recursive: true });
  const dataDir = mkdtempSync(join(tmpdir(), "edge-matcher-e2e-"));
  const stopOnSignal = () => {
    void stopServer().finally(() => process.exit(130));
  };
  process.once("SIGINT", stopOnSignal);
  process.once("SIGTERM", stopOnSignal);
  try {
    const port = await freePort();
    log(`▸ npm start on :${port} (data ${dataDir}, MATCH_TIMEOUT_SECONDS=${MATCH_TIMEOUT_SECONDS})`);
    const base = await startServer(port, dataDir);
    log(`▸ healthy at ${base}; launching ${CHROMIUM}`);
    browser = await withTimeout(
      "chromium launch",
      30_000,
      chromium.launch({
        executablePath: CHROMIUM,
        args: [
          "--headless",
          "--no-sandbox",
          "--disable-gpu",
          "--disable-background-networking",
          "--disable-component-update",
          "--disable-sync",
          "--no-first-run",
          "--disable-quic",
        ],
      }),
    );

    await scenario(
      "the API docs render with no request leaving the machine; Authorize sends the token",
      async (users) => {
        if (!browser) throw new Error("no browser");
        const context = await browser.newContext({
          viewport: { width: 1200, height: 900 },
          reducedMotion: "reduce",
        });
        context.setDefaultTimeout(STEP_TIMEOUT_MS);
        // Anything for another host is recorded and refused, so a regression cannot reach out either.
        const foreign: string[] = [];
        const isLocal = (url: string) => /^(data|blob|about):/.test(url) || new URL(url).origin === base;
        await context.route(
          (url) => !isLocal(url.href),
          (route) => route.abort("blockedbyclient"),
        );
        const page = await context.newPage();
        users.push({ name: "docs", context, page });
        let requests = 0;
        page.on("request", (req) => {
          requests++;
          if (!isLocal(req.url())) foreign.push(`${req.method()} ${req.url()}`);
        });
        page.on("pageerror", (error) => log(`  [docs] page error: ${error.message}`));

        const doc = (await (await fetch(`${base}/api/v1/matching/openapi.json`)).json()) as {
          paths: Record<string, Record<string, unknown>>;
        };
        const operations = Object.values(doc.paths).flatMap((item) =>
          Object.keys(item).filter((k) => ["get", "put", "post", "delete", "patch"].includes(k)),
        ).length;
        await page.goto(`${base}/docs`, { timeout: STEP_TIMEOUT_MS });
        const rendered = await page
          .getByText("Join a bucket's queue")
          .waitFor()
          .then(
            () => "",
            (error: Error) => error.message,
          );
        expectThat(foreign.length === 0, `requests left the machine:\n${foreign.join("\n")}`);
        expectThat(rendered === "", `the operations did not render: ${rendered}`);
        const shown = await page.locator(".opblock").count();
        expectThat(
          shown === operations,
          `the page shows ${shown} operations, the document has ${operations}`,
        );
        await page.screenshot({ path: join(OUT, "e1-docs.png"), fullPage: false });

        // Authorize with a development token for the `bearer` scheme.
        const minted = await fetch(`${base}/api/v1/matching/dev/token`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ userId: `docs-${run}` }),
        });
        const { token } = (await minted.json()) as { token: string };
        await page.locator(".auth-wrapper button.authorize").click();
        const bearer = page
          .locator(".modal-ux .auth-container")
          .filter({ has: page.locator("h4 code", { hasText: /^bearer$/ }) });
        await bearer.locator("input").fill(token);
        await bearer.locator("button.authorize").click();
        await page.screenshot({ path: join(OUT, "e2-docs-authorized.png") });
        await bearer.locator("button.btn-done").click();

        // "Try it out" (on from the start): GET /me/blocks carries the token and is answered 200.
        const blocks = page.locator(".opblock").filter({ hasText: "The users you have blocked" });
        await blocks.locator(".opblock-summary").first().click();
        const sent = page.waitForRequest((r) => new URL(r.url()).pathname === "/api/v1/matching/me/blocks");
        await blocks.getByRole("button", { name: "Execute" }).click();
        const request = await sent;
        expectThat(
          request.headers().authorization === `Bearer ${token}`,
          `the try-it request should carry the token, had ${request.headers().authorization ?? "none"}`,
        );
        const answer = await request.response();
        expectThat(answer?.status() === 200, `GET /me/blocks with the token answered ${answer?.status()}`);
        await blocks.locator(".live-responses-table .response-col_status").first().waitFor();
        await page.screenshot({ path: join(OUT, "e3-docs-try-it.png") });

        // /metrics sits at the root: its per-path server must be honoured.
        const metrics = page.locator(".opblock").filter({ hasText: "Prometheus metrics" });
        await metrics.locator(".opblock-summary").first().click();
        const scraped = page.waitForRequest((r) => new URL(r.url()).pathname.endsWith("/metrics"));
        await metrics.getByRole("button", { name: "Execute" }).click();
        const metricsPath = new URL((await scraped).url()).pathname;
        expectThat(metricsPath === "/metrics", `try-it for /metrics requested ${metricsPath}`);

        log(`  the docs page made ${requests} requests, ${foreign.length} to another host`);
        expectThat(foreign.length === 0, `requests left the machine:\n${foreign.join("\n")}`);
      },
    );

    await scenario("two users match, both confirm, both see the ready screen", async (users) => {
      const topic = `e2e-pair-${run}`;
      const alice = await openUser(base, `alice-${run}`, undefined, "a0-alice");
      users.push(alice);
      const bob = await openUser(base, `bob-${run}`, { width: 375, height: 700 }, "a0-bob-375x700");
      users.push(bob);
      await joinBucket(alice, "easy", topic);
      expectThat((await text(alice.page, "#q-position")) === "1", "alice should be first in the queue");
      await shot(alice, "a1-alice-queued.png");
      await joinBucket(bob, "Easy", topic);
      await screen(alice.page, "found");
      await screen(bob.page, "found");
      expectThat((await text(alice.page, "#f-partner")) === bob.name, "alice should see bob as partner");
      expectThat((await text(bob.page, "#f-partner")) === alice.name, "bob should see alice as partner");
      await shot(bob, "a2-bob-found-375x700.png");
      // Alice confirms with the keyboard: focus moved to the heading, Tab reaches Confirm, Enter.
      await alice.page.keyboard.press("Tab");
      const focused = await alice.page.evaluate(() => document.activeElement?.id ?? "");
      expectThat(focused === "confirm", `Tab from the heading should reach Confirm, got #${focused}`);
      await shot(alice, "a2-alice-found-confirm-focused.png");
      await alice.page.keyboard.press("Enter");
      await bob.page.waitForFunction(
        () => /partner confirmed/i.test(document.getElementById("f-state")?.textContent ?? ""),
        null,
        {
          timeout: STEP_TIMEOUT_MS,
        },
      );
      await shot(bob, "a3-bob-partner-confirmed-375x700.png");
      await bob.page.getByRole("button", { name: "Confirm" }).click();
      await screen(alice.page, "ready");
      await screen(bob.page, "ready");
      await expectMatchedTogether(alice, bob, "easy", topic);
      await shot(alice, "a4-alice-ready.png");
      await shot(bob, "a5-bob-ready-375x700.png");
    });

    await scenario("any of several topics: waiting in two buckets, paired in the second", async (users) => {
      const home = `e2e-home-${run}`;
      const other = `e2e-other-${run}`;
      const frank = await openUser(base, `frank-${run}`);
      users.push(frank);
      const grace = await openUser(base, `grace-${run}`);
      users.push(grace);
      await joinBucket(frank, "medium", home, other);
      await frank.page.waitForFunction(
        (rooms) => document.getElementById("q-buckets")?.textContent === rooms,
        `medium · ${home}, medium · ${other}`,
        { timeout: STEP_TIMEOUT_MS },
      );
      await shot(frank, "g1-frank-queued-two-buckets.png");
      // Whether Frank's placement reaches the other bucket before or after Grace, she is paired with him.
      await joinBucket(grace, "medium", other);
      await screen(frank.page, "found");
      await screen(grace.page, "found");
      expectThat((await text(frank.page, "#f-partner")) === grace.name, "frank should see grace as partner");
      expectThat(
        (await text(frank.page, "#f-bucket")) === `medium · ${other}`,
        `frank was paired in the other bucket, saw "${await text(frank.page, "#f-bucket")}"`,
      );
      await shot(frank, "g2-frank-found-in-other-bucket.png");
      await frank.page.getByRole("button", { name: "Confirm" }).click();
      await grace.page.getByRole("button", { name: "Confirm" }).click();
      await screen(frank.page, "ready");
      await screen(grace.page, "ready");
      expectThat(
        (await text(frank.page, "#r-match")) === (await text(grace.page, "#r-match")),
        "same match id",
      );
    });

    await scenario("a lone user sees the queue timeout and can rejoin", async (users) => {
      const carol = await openUser(base, `carol-${run}`);
      users.push(carol);
      await joinBucket(carol, "medium", `e2e-lonely-${run}`);
      await shot(carol, "b1-carol-queued.png");
      await screen(carol.page, "ended", (MATCH_TIMEOUT_SECONDS + 10) * 1000);
      const message = await text(carol.page, "#ended-message");
      expectThat(/No partner was found/.test(message), `timeout message expected, got "${message}"`);
      await shot(carol, "b2-carol-timeout.png");
      await carol.page.getByRole("button", { name: "Join again" }).click();
      await screen(carol.page, "queued");
      await carol.page.getByRole("button", { name: "Leave the queue" }).click();
      await screen(carol.page, "ended");
      expectThat(/left the queue/.test(await text(carol.page, "#ended-message")), "leave should say so");
    });

    await scenario("a decline sends the partner back to the queue", async (users) => {
      const topic = `e2e-decline-${run}`;
      const dave = await openUser(base, `dave-${run}`);
      users.push(dave);
      const erin = await openUser(base, `erin-${run}`);
      users.push(erin);
      await joinBucket(dave, "hard", topic);
      await joinBucket(erin, "hard", topic);
      await screen(dave.page, "found");
      await screen(erin.page, "found");
      await erin.page.getByRole("button", { name: "Decline" }).click();
      await screen(erin.page, "ended");
      expectThat(
        /You declined/.test(await text(erin.page, "#ended-message")),
        "erin should see she declined",
      );
      await screen(dave.page, "queued");
      const notice = await text(dave.page, "#queued-notice");
      expectThat(
        /partner declined/i.test(notice),
        `dave should be told his partner declined, got "${notice}"`,
      );
      expectThat((await text(dave.page, "#q-position")) === "1", "dave keeps the head of the queue");
      const estimate = await text(dave.page, "#q-estimate");
      expectThat(
        /nobody else is waiting/i.test(estimate),
        `alone in the queue, dave should get no estimate, got "${estimate}"`,
      );
      await shot(dave, "c1-dave-requeued.png");
      await shot(erin, "c2-erin-declined.png");
    });

    await scenario(
      "a second tab takes over: the first tab shows it was replaced within 1 s",
      async (users) => {
        const topic = `e2e-tabs-${run}`;
        const frank = await openUser(base, `frank-${run}`);
        users.push(frank);
        await joinBucket(frank, "easy", topic);
        // The same person in a second tab of the same browser.
        const page = await frank.context.newPage();
        await page.goto(base, { timeout: STEP_TIMEOUT_MS });
        await screen(page, "signin");
        await page.getByLabel("Your name").fill(frank.name);
        await page.getByLabel("Your name").press("Enter");
        const second: User = { name: frank.name, context: frank.context, page };
        await screen(page, "join");
        const shown = screen(frank.page, "ended").then(() => Date.now());
        await joinBucket(second, "easy", topic);
        const queuedAt = Date.now();
        const lag = (await shown) - queuedAt;
        log(`  the first tab showed the takeover ${lag} ms after the second tab was queued`);
        expectThat(lag <= 1_000, `the first tab learned of the takeover ${lag} ms late`);
        const message = await text(frank.page, "#ended-message");
        expectThat(/another tab or window/.test(message), `replaced message expected, got "${message}"`);
        await shot(frank, "d1-frank-replaced.png");
        await second.page.getByRole("button", { name: "Leave the queue" }).click();
        await screen(second.page, "ended");
      },
    );

    await scenario(
      "one user challenges another from the page; both reach the ready screen",
      async (users) => {
        const gina = await openUser(base, `gina-${run}`);
        users.push(gina);
        const hank = await openUser(base, `hank-${run}`);
        users.push(hank);
        await gina.page.getByLabel("Challenge difficulty").selectOption("medium");
        await gina.page.getByLabel("Challenge topic").fill(`e2e-duel-${run}`);
        await gina.page.getByLabel("Their name").fill(hank.name);
        await gina.page.getByRole("button", { name: "Send challenge" }).click();
        await gina.page.locator("#outgoing li").first().waitFor({ timeout: STEP_TIMEOUT_MS });
        // Hank's own channel brings the challenge in, with no reload.
        const accept = hank.page.getByRole("button", { name: `Accept: ${gina.name} challenges you` });
        await accept.waitFor({ timeout: STEP_TIMEOUT_MS });
        await shot(hank, "e1-hank-challenged.png");
        await accept.click();
        await screen(hank.page, "ready");
        await screen(gina.page, "ready");
        await expectMatchedTogether(gina, hank, "medium", `e2e-duel-${run}`);
        await shot(gina, "e2-gina-ready.png");
      },
    );

    await scenario(
      "a match made ready while the tab's connection was down is shown when it reconnects",
      async (users) => {
        const topic = `e2e-owed-${run}`;
        const pia = await openUser(base, `pia-${run}`);
        users.push(pia);
        // While "offline", the page's reconnects to its bucket go nowhere, as on a dead network.
        await pia.page.addInitScript(() => {
          const w = window as unknown as { e2eSockets: WebSocket[]; e2eOffline: boolean };
          const Native = window.WebSocket;
          w.e2eSockets = [];
          w.e2eOffline = false;
          window.WebSocket = class extends Native {
            constructor(url: string | URL, protocols?: string | string[]) {
              const away = w.e2eOffline && String(url).includes("/parties/bucket/");
              super(away ? "ws://127.0.0.1:9/" : url, protocols);
              w.e2eSockets.push(this);
            }
          };
        });
        await pia.page.reload();
        await screen(pia.page, "join");
        const ray = await openUser(base, `ray-${run}`);
        users.push(ray);
        await joinBucket(pia, "hard", topic);
        await joinBucket(ray, "hard", topic);
        await screen(pia.page, "found");
        await screen(ray.page, "found");
        await pia.page.getByRole("button", { name: "Confirm" }).click();
        await ray.page.waitForFunction(
          () => /partner confirmed/i.test(document.getElementById("f-state")?.textContent ?? ""),
          null,
          { timeout: STEP_TIMEOUT_MS },
        );
        await pia.page.evaluate(() => {
          const w = window as unknown as { e2eSockets: WebSocket[]; e2eOffline: boolean };
          w.e2eOffline = true;
          w.e2eSockets
            .filter((ws) => ws.url.includes("/parties/bucket/"))
            .at(-1)
            ?.close(3000, "network dropped");
        });
        await pia.page.waitForSelector("#connection:not([hidden])", { timeout: STEP_TIMEOUT_MS });
        // The bucket sees Pia go before Ray confirms: the match becomes ready while she is away.
        await new Promise((r) => setTimeout(r, 500));
        await ray.page.getByRole("button", { name: "Confirm" }).click();
        await screen(ray.page, "ready");
        await pia.page.evaluate(() => {
          (window as unknown as { e2eOffline: boolean }).e2eOffline = false;
        });
        await screen(pia.page, "ready");
        await expectMatchedTogether(pia, ray, "hard", topic);
        await shot(pia, "j1-pia-ready-after-reconnect.png");
      },
    );

    await scenario(
      "a dropped connection shows reconnecting, then reconnected, with the place in the queue kept",
      async (users) => {
        const oli = await openUser(base, `oli-${run}`);
        users.push(oli);
        // Keep every socket the page opens, and every state the connection notice goes through.
        await oli.page.addInitScript(() => {
          const sockets: WebSocket[] = [];
          const Native = window.WebSocket;
          window.WebSocket = class extends Native {
            constructor(url: string | URL, protocols?: string | string[]) {
              super(url, protocols);
              sockets.push(this);
            }
          };
          Object.assign(window, { e2eSockets: sockets, e2eNotices: [] as string[] });
          document.addEventListener("DOMContentLoaded", () => {
            const note = document.getElementById("connection");
            if (!note) return;
            new MutationObserver(() => {
              if (!note.hidden)
                (window as unknown as { e2eNotices: string[] }).e2eNotices.push(note.textContent ?? "");
            }).observe(note, { attributes: true, childList: true, characterData: true, subtree: true });
          });
        });
        // The page signs in again by itself from the tab's memory of the name.
        await oli.page.reload();
        await screen(oli.page, "join");
        await joinBucket(oli, "medium", `e2e-drop-${run}`);
        const id = await text(oli.page, "#q-position");
        // The network drops the bucket's socket (a close the server did not ask for).
        await oli.page.evaluate(() => {
          const sockets = (window as unknown as { e2eSockets: WebSocket[] }).e2eSockets;
          const bucket = sockets.filter((ws) => ws.url.includes("/parties/bucket/")).at(-1);
          bucket?.close(3000, "network dropped");
        });
        await oli.page.waitForSelector('#connection[data-state="back"]', { timeout: STEP_TIMEOUT_MS });
        const notices = await oli.page.evaluate(
          () => (window as unknown as { e2eNotices: string[] }).e2eNotices,
        );
        expectThat(
          notices.some((n) => /reconnecting/i.test(n)),
          `the page should have said it was reconnecting, said: ${notices.join(" / ")}`,
        );
        expectThat(
          /Reconnected/.test(await text(oli.page, "#connection")),
          "the page should say it reconnected",
        );
        await screen(oli.page, "queued");
        expectThat((await text(oli.page, "#q-position")) === id, "the place in the queue is kept");
        await shot(oli, "i1-oli-reconnected.png");
        await oli.page.getByRole("button", { name: "Leave the queue" }).click();
        await screen(oli.page, "ended");
      },
    );

    await scenario(
      "the dashboard shows a bucket as someone waits, then a match as a partner joins",
      async (users) => {
        const topic = `e2e-dash-${run}`;
        const room = `easy.${topic}`;
        const admin = await openDashboard(base, users);
        const narrow = await openDashboard(base, users, { width: 390, height: 844 });
        const before = Number(await text(admin.page, "#t-matches"));
        const ivy = await openUser(base, `ivy-${run}`);
        users.push(ivy);
        const jack = await openUser(base, `jack-${run}`);
        users.push(jack);
        await joinBucket(ivy, "easy", topic);
        // Bucket, waiting, p50, p95, matches in the last hour.
        const waiting = await bucketRow(admin, room, 1, "1");
        expectThat(waiting[4] === "0", `no match yet in ${room}, the row says ${waiting.join(" | ")}`);
        await joinBucket(jack, "easy", topic);
        await screen(ivy.page, "found");
        const matched = await bucketRow(admin, room, 4, "1");
        expectThat(matched[1] === "0", `nobody waits once paired, the row says ${matched.join(" | ")}`);
        expectThat(/\d+ ms|\d+(\.\d)? s/.test(matched[2] ?? ""), `a p50 wait is shown, got "${matched[2]}"`);
        await admin.page.waitForFunction(
          (n) => Number(document.getElementById("t-matches")?.textContent) >= n,
          before + 1,
          { timeout: 20_000 },
        );
        // The table sorts by a column with a click, and says so to assistive technology.
        await admin.page.getByRole("button", { name: "Bucket", exact: true }).click();
        const sort = await admin.page.locator('#buckets th[data-key="room"]').getAttribute("aria-sort");
        expectThat(sort === "ascending", `sorting by bucket should mark the column ascending, got ${sort}`);
        // The wait chart has a bar for the pair; its table says how many waited.
        const waited = await admin.page.$$eval("#waits-table tbody td", (tds) =>
          tds.reduce((sum, td) => sum + Number(td.textContent), 0),
        );
        expectThat(waited >= 2, `the wait distribution should count both users, got ${waited}`);
        await shot(admin, "h0-dashboard-1100.png");
        await bucketRow(narrow, room, 4, "1");
        await shot(narrow, "h0-dashboard-390.png");
        // Within the confirm window still: Ivy declines, Jack goes back to the queue and leaves it.
        await ivy.page.getByRole("button", { name: "Decline" }).click();
        await screen(jack.page, "queued");
        await jack.page.getByRole("button", { name: "Leave the queue" }).click();
        await screen(jack.page, "ended");
      },
    );

    await scenario(
      "the demo page: a role is honoured, the match shows in the history, and a partner can be blocked",
      async (users) => {
        const topic = `e2e-roles-${run}`;
        const kim = await openUser(base, `kim-${run}`, { width: 1100, height: 900 }, "r0-kim-1100");
        users.push(kim);
        const lee = await openUser(base, `lee-${run}`);
        users.push(lee);
        const max = await openUser(base, `max-${run}`, { width: 390, height: 844 }, "r0-max-390");
        users.push(max);
        await joinBucket(kim, "hard", topic, "", "Interviewer");
        // Two interviewers never pair: Lee waits behind Kim.
        await joinBucket(lee, "hard", topic, "", "Interviewer");
        expectThat((await text(lee.page, "#q-position")) === "2", "lee should wait second, not be paired");
        expectThat(
          (await text(lee.page, "#q-waiting")) === "1 person",
          "lee should see one other person waiting",
        );
        expectThat(
          (await text(lee.page, "#q-role")) === "Interviewer first",
          "lee should see the part asked for",
        );
        await shot(kim, "r1-kim-queued-1100.png");
        // An interviewee pairs with Kim, the oldest who fits.
        await joinBucket(max, "hard", topic, "", "Interviewee");
        await screen(kim.page, "found");
        await screen(max.page, "found");
        expectThat((await text(kim.page, "#f-partner")) === max.name, "kim should be paired with max");
        expectThat(
          /start as the interviewer/.test(await text(kim.page, "#f-role")),
          `kim asked to interview first, saw "${await text(kim.page, "#f-role")}"`,
        );
        await shot(max, "r2-max-found-390.png");
        await kim.page.getByRole("button", { name: "Confirm" }).click();
        await max.page.getByRole("button", { name: "Confirm" }).click();
        await screen(kim.page, "ready");
        await screen(max.page, "ready");
        expectThat(
          /start as the interviewee/.test(await text(max.page, "#r-role")),
          `max should start as the interviewee, saw "${await text(max.page, "#r-role")}"`,
        );
        expectThat(
          /QUESTION_SERVICE_URL/.test(await text(max.page, "#r-question")),
          "the ready screen should say no question service is configured",
        );
        // The match reaches the history, with a block switch for the partner.
        await kim.page
          .locator(`#matches li[data-partner="${max.name}"]`)
          .filter({ hasText: /· Confirmed/ })
          .waitFor({ timeout: 20_000 });
        await shot(kim, "r3-kim-ready-history-1100.png");
        await shot(max, "r3-max-ready-390.png");
        await kim.page.getByRole("button", { name: `Block ${max.name}` }).click();
        await kim.page.getByRole("button", { name: `Unblock ${max.name}` }).waitFor();
        const blocks = await blockedBy(base, kim.name);
        expectThat(
          blocks.includes(max.name),
          `the server should hold kim's block of max, has ${blocks.join(", ")}`,
        );
        // After a reload the block is still shown, and lifting it is one click.
        await kim.page.reload();
        await screen(kim.page, "join");
        await kim.page.getByRole("button", { name: `Unblock ${max.name}` }).click();
        await kim.page.getByRole("button", { name: `Block ${max.name}` }).waitFor();
        await shot(kim, "r4-kim-unblocked-1100.png");
        await lee.page.getByRole("button", { name: "Leave the queue" }).click();
        await screen(lee.page, "ended");
      },
    );

    // Last: it pauses matching for the whole (default) tenant while it runs.
    await scenario(
      "the maintenance switch on the dashboard refuses a join until it is switched back",
      async (users) => {
        const admin = await openDashboard(base, users);
        const nia = await openUser(base, `nia-${run}`);
        users.push(nia);
        try {
          await switchMaintenance(admin, true);
          await shot(admin, "h2-dashboard-paused.png");
          await nia.page.getByLabel("Topic", { exact: true }).fill(`e2e-paused-${run}`);
          await nia.page.getByRole("button", { name: "Find a partner" }).click();
          await screen(nia.page, "ended");
          const message = await text(nia.page, "#ended-message");
          expectThat(/paused for maintenance/.test(message), `the join should be refused, got "${message}"`);
          await shot(nia, "h3-nia-refused.png");
          await switchMaintenance(admin, false);
          await nia.page.getByRole("button", { name: "Join again" }).click();
          await nia.page.waitForFunction(() =>
            /^\d+$/.test(document.getElementById("q-position")?.textContent ?? ""),
          );
          await nia.page.getByRole("button", { name: "Leave the queue" }).click();
          await screen(nia.page, "ended");
        } finally {
          // Never leave the server paused, whatever failed above.
          const { token } = (await (
            await fetch(`${base}/api/v1/matching/dev/token`, {
              method: "POST",
              headers: { "content-type": "application/json" },
              body: JSON.stringify({ userId: "e2e-ops", admin: true }),
            })
          ).json()) as { token: string };
          await fetch(`${base}/api/v1/matching/internal/maintenance`, {
            method: "PUT",
            headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
            body: JSON.stringify({ on: false }),
          });
        }
      },
    );
  } catch (error) {
    results.push({
      name: "setup",
      ok: false,
      error: error instanceof Error ? error.message : String(error),
      ms: 0,
    });
    log(`✗ setup: ${error instanceof Error ? error.message : String(error)}`);
  } finally {
    await browser?.close().catch(() => undefined);
    await stopServer();
    rmSync(dataDir, { recursive: true, force: true });
  }
  const passed = results.filter((r) => r.ok).length;
  const failed = results.length - passed;
  log(`screenshots and server.log in ${OUT}`);
  log(`${passed} passed, ${failed} failed`);
  return failed > 0 || passed === 0 ? 1 : 0;
}

process.exitCode = await main();
