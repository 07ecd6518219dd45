// Drives the web app in Debian's headless chromium for tests/e2e/test_webapp.py.
//
// The Python test runs the server, reads this script's stdout (one JSON event per line) and
// replays MT5 ticks once the browser watches the market. Steps: first load (JavaScript
// bytes transferred), register, sign out, sign in, create an API key in the UI (printed for
// the replay), watch the live market until ticks stream (frame timings of the chart while
// they do) and a buy/sell signal shows as a row and a chart marker, then the paper account
// and its attribution; the terminals page lists the replayed terminal while it is connected;
// run a backtest and open its report; the risk and models pages; the links from e-mails
// (verify, reset) with a made-up token.
// Screenshots go to ARTIFACTS_DIR. Exit code 0 only when every step passed.
//
// Environment: CHAINFLOW_URL, ARTIFACTS_DIR, E2E_EMAIL, E2E_PASSWORD, CHROMIUM_PATH.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";

const BASE = process.env.CHAINFLOW_URL;
const ARTIFACTS = process.env.ARTIFACTS_DIR;
const EMAIL = process.env.E2E_EMAIL;
const PASSWORD = process.env.E2E_PASSWORD;
const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
const FPS_WINDOW_MS = Number(process.env.E2E_FPS_WINDOW_MS || 5000);
const SIGNAL_TIMEOUT_MS = Number(process.env.E2E_SIGNAL_TIMEOUT_MS || 180000);
const BACKTEST_TIMEOUT_MS = Number(process.env.E2E_BACKTEST_TIMEOUT_MS || 120000);
const ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

function emit(event, data = {}) {
  process.stdout.write(JSON.stringify({ event, ...data }) + "\n");
}

function percentile(sorted, p) {
  if (!sorted.length) return null;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index];
}

async function shot(page, name, fullPage = false) {
  const path = join(ARTIFACTS, name);
  await page.screenshot({ path, fullPage });
  return path;
}

/**
 * The page's token refreshes in flight. The app refreshes its session when it loads; a
 * reload before that answer arrives presents the rotated-away refresh token again, which
 * the server takes as reuse (the session is revoked). Navigations wait for them.
 */
function trackRefreshes(page) {
  const pending = new Set();
  page.on("request", (request) => {
    if (request.url().includes("/api/v1/auth/refresh")) pending.add(request);
  });
  page.on("requestfinished", (request) => pending.delete(request));
  page.on("requestfailed", (request) => pending.delete(request));
  return pending;
}

async function settledGoto(page, refreshes, url, options) {
  for (let waited = 0; refreshes.size && waited < 30000; waited += 50) {
    await page.waitForTimeout(50);
  }
  await page.waitForTimeout(100); // the app stores the rotated token after the answer
  return page.goto(url, options);
}

function nav(page, label) {
  return page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: label, exact: true }).click();
}

// Poll the job page until the job succeeded; return the statuses seen, in order.
async function watchJob(page, timeoutMs) {
  const statuses = [];
  const deadline = Date.now() + timeoutMs;
  const status = page.getByTestId("job-status");
  await status.waitFor({ timeout: 30000 });
  while (Date.now() < deadline) {
    const now = await status.getAttribute("data-status");
    if (now && statuses[statuses.length - 1] !== now) statuses.push(now);
    if (now === "succeeded") return statuses;
    if (now === "failed" || now === "cancelled") {
      const text = await page.locator("main").innerText();
      throw new Error(`the backtest ended ${now}: ${text.slice(0, 600)}`);
    }
    await page.waitForTimeout(100);
  }
  throw new Error(`the backtest did not finish in ${timeoutMs} ms; statuses ${statuses.join(", ")}`);
}

// Fill the search form of the Optimize page: a tiny grid of fast and slow.
async function fillSearch(page, kind) {
  await nav(page, "Optimize");
  await page.getByRole("heading", { name: "Optimization", exact: true }).waitFor();
  await page.getByRole("radio", { name: kind }).click();
  await page.getByLabel("Strategy").selectOption("sma_crossover");
  await page.getByLabel("Symbol", { exact: true }).fill("EURUSD");
  await page.getByLabel("Timeframe").selectOption("M5");
  for (const [name, low, high, step] of [
    ["fast", 5, 10, 5],
    ["slow", 20, 30, 10],
  ]) {
    await page.getByLabel(`${name} from`, { exact: true }).fill(String(low));
    await page.getByLabel(`${name} to`, { exact: true }).fill(String(high));
    await page.getByLabel(`${name} step`, { exact: true }).fill(String(step));
  }
}

async function columnNumbers(page, table, column) {
  return page.evaluate(
    ([table, column]) =>
      [...document.querySelectorAll(`[data-testid="${table}"] tbody tr`)].map((row) =>
        Number(row.children[column].textContent.replace(/[^0-9.-]/g, "")),
      ),
    [table, column],
  );
}

async function firstLoadJavaScript(page) {
  return page.evaluate(() =>
    performance
      .getEntriesByType("resource")
      .filter((entry) => new URL(entry.name).pathname.endsWith(".js"))
      .map((entry) => ({
        url: new URL(entry.name).pathname,
        transfer: entry.transferSize,
        encoded: entry.encodedBodySize,
        decoded: entry.decodedBodySize,
      })),
  );
}

// requestAnimationFrame deltas and ticks drawn on the chart over `windowMs`.
async function frameTimings(page, windowMs) {
  return page.evaluate(async (windowMs) => {
    const chart = document.querySelector('[data-testid="candle-chart"]');
    const ticksAt = () => Number(chart?.getAttribute("data-ticks") || 0);
    const deltas = [];
    const ticksBefore = ticksAt();
    const began = performance.now();
    await new Promise((resolve) => {
      let last = performance.now();
      const step = (now) => {
        deltas.push(now - last);
        last = now;
        if (now - began < windowMs) requestAnimationFrame(step);
        else resolve();
      };
      requestAnimationFrame((now) => {
        last = now;
        requestAnimationFrame(step);
      });
    });
    const elapsed = performance.now() - began;
    return { deltas, ticks: ticksAt() - ticksBefore, elapsedMs: elapsed };
  }, windowMs);
}

async function main() {
  mkdirSync(ARTIFACTS, { recursive: true });
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true });
  const result = { screenshots: {}, violations: [], console_errors: [] };
  try {
    const context = await browser.newContext({ viewport: { width: 1366, height: 900 }, colorScheme: "dark" });
    const page = await context.newPage();
    const refreshes = trackRefreshes(page);
    page.on("console", (message) => {
      if (message.type() === "error") result.console_errors.push(message.text());
    });
    page.on("pageerror", (error) => result.console_errors.push(String(error)));
    result.http_errors = [];
    page.on("response", (response) => {
      if (response.status() >= 400) {
        result.http_errors.push(`${response.status()} ${new URL(response.url()).pathname}`);
      }
    });
    await page.addInitScript(() => {
      window.__violations = [];
      document.addEventListener("securitypolicyviolation", (event) => {
        window.__violations.push(`${event.violatedDirective} ${event.blockedURI}`);
      });
    });

    // First load: the sign-in page, and what JavaScript it cost.
    await page.goto(`${BASE}/app/`, { waitUntil: "load" });
    await page.getByRole("heading", { name: "Sign in to ChainFlow" }).waitFor();
    const scripts = await firstLoadJavaScript(page);
    result.first_load_js = scripts;
    result.js_transfer_bytes = scripts.reduce((sum, s) => sum + s.transfer, 0);
    result.js_decoded_bytes = scripts.reduce((sum, s) => sum + s.decoded, 0);
    emit("first_load", { js_transfer_bytes: result.js_transfer_bytes, scripts });
    result.screenshots.login = await shot(page, "login.png");

    // Register (dev mode: no verification), which signs in.
    await page.getByRole("link", { name: "Create an account" }).click();
    await page.getByLabel("Name (optional)").fill("E2E Trader");
    await page.getByLabel("E-mail").fill(EMAIL);
    await page.getByLabel("Password").fill(PASSWORD);
    await page.getByRole("button", { name: "Register" }).click();
    await page.getByRole("heading", { name: "Live market" }).waitFor();
    emit("registered");

    // Sign out, then sign in with the form.
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByRole("heading", { name: "Sign in to ChainFlow" }).waitFor();
    await page.getByLabel("E-mail").fill(EMAIL);
    await page.getByLabel("Password").fill(PASSWORD);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("heading", { name: "Live market" }).waitFor();
    await page.getByTestId("user-email").filter({ hasText: EMAIL }).waitFor();
    result.admin_links_before = await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Admin" }).count();
    emit("logged_in");

    // A key for the MT5 terminal, made in the UI, reached with the keyboard-focusable nav.
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "API keys" }).click();
    await page.getByRole("heading", { name: "API keys" }).waitFor();
    await page.getByLabel("Name").fill("e2e terminal");
    await page.getByRole("button", { name: "Create key" }).click();
    const key = (await page.getByTestId("new-key").textContent()).trim();
    await page.getByTestId("key-row").filter({ hasText: "e2e terminal" }).waitFor();
    result.screenshots.api_keys = await shot(page, "api-keys.png");
    emit("api_key", { key });

    // The live market: wait for the stream, tell the test to replay, then watch.
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Market" }).click();
    await page.locator('[data-testid="stream-status"][data-status="open"]').waitFor({ timeout: 30000 });
    emit("watching");
    await page.waitForFunction(
      () => Number(document.querySelector('[data-testid="candle-chart"]')?.getAttribute("data-ticks")) > 20,
      null,
      { timeout: 120000 },
    );
    const timings = await frameTimings(page, FPS_WINDOW_MS);
    const deltas = [...timings.deltas].sort((a, b) => a - b);
    const p50 = percentile(deltas, 50);
    const p95 = percentile(deltas, 95);
    result.frames = {
      count: deltas.length,
      window_ms: Math.round(timings.elapsedMs),
      frame_ms_p50: p50,
      frame_ms_p95: p95,
      frame_ms_max: deltas[deltas.length - 1],
      fps_p50: 1000 / p50,
      fps_p95: 1000 / p95,
      fps_mean: (deltas.length * 1000) / timings.elapsedMs,
      ticks: timings.ticks,
      ticks_per_s: (timings.ticks * 1000) / timings.elapsedMs,
    };
    emit("frames", result.frames);

    const tradeRow = page
      .getByTestId("signal-row")
      .filter({ has: page.locator(".pill-buy, .pill-sell") })
      .first();
    await tradeRow.waitFor({ timeout: SIGNAL_TIMEOUT_MS });
    await page.waitForFunction(
      () => Number(document.querySelector('[data-testid="candle-chart"]')?.getAttribute("data-markers")) > 0,
      null,
      { timeout: 10000 },
    );
    const chart = page.getByTestId("candle-chart");
    result.markers = Number(await chart.getAttribute("data-markers"));
    result.chart_ticks = Number(await chart.getAttribute("data-ticks"));
    result.signal_rows = await page.getByTestId("signal-row").count();
    result.first_trade_signal = (await tradeRow.innerText()).replace(/\s+/g, " ").trim();
    await page.waitForTimeout(1500); // a few more candles and markers for the picture
    result.screenshots.market = await shot(page, "market.png");
    emit("signal_seen", { markers: result.markers, rows: result.signal_rows, row: result.first_trade_signal });

    // The paper account: the buy/sell signal became a position (or a closed trade).
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Paper account" }).click();
    await page.getByTestId("paper-summary").waitFor({ timeout: 30000 });
    await page
      .locator('[data-testid="positions-table"], [data-testid="trades-table"]')
      .first()
      .waitFor({ timeout: 60000 });
    result.positions = await page.getByTestId("position-row").count();
    result.trades = await page.locator('[data-testid="trades-table"] tbody tr').count();
    result.paper_summary = (await page.getByTestId("paper-summary").innerText()).replace(/\s+/g, " ").trim();
    // Its attribution: rows by symbol that add up to the account's P&L.
    await page.getByTestId("attribution-row").first().waitFor({ timeout: 30000 });
    result.attribution = {
      rows: await page.getByTestId("attribution-row").count(),
      symbols: (await page.getByTestId("attribution-table").innerText()).replace(/\s+/g, " ").trim(),
      reconciliation: (await page.getByTestId("attribution-reconciliation").innerText()).trim(),
    };
    emit("attribution", result.attribution);
    result.screenshots.paper = await shot(page, "paper.png");

    // A backtest: started in the form, watched while it runs, its report opened (and again
    // from the list of jobs).
    await nav(page, "Backtests");
    await page.getByRole("heading", { name: "Backtests", exact: true }).waitFor();
    await page.getByLabel("Strategy").selectOption("sma_crossover");
    await page.getByLabel("Symbol", { exact: true }).fill("EURUSD");
    await page.getByLabel("Timeframe").selectOption("M5");
    await page.getByLabel("Fast period (bars)").fill("10");
    await page.getByLabel("Slow period (bars)").fill("30");
    await page.getByRole("button", { name: "Start backtest" }).click();
    const statuses = await watchJob(page, BACKTEST_TIMEOUT_MS);
    await page.waitForFunction(
      () =>
        Number(document.querySelector('[data-testid="backtest-equity-chart"]')?.getAttribute("data-points")) > 1 &&
        Number(document.querySelector('[data-testid="backtest-drawdown-chart"]')?.getAttribute("data-points")) > 1,
      null,
      { timeout: 30000 },
    );
    result.backtest = {
      path: new URL(page.url()).pathname,
      statuses,
      equity_points: Number(await page.getByTestId("backtest-equity-chart").getAttribute("data-points")),
      drawdown_points: Number(await page.getByTestId("backtest-drawdown-chart").getAttribute("data-points")),
      metrics: (await page.getByTestId("report-metrics").innerText()).replace(/\s+/g, " ").trim(),
      scope: (await page.getByTestId("report-scope").innerText()).trim(),
    };
    await page.waitForTimeout(300); // the charts' first paint
    result.screenshots.backtest = await shot(page, "backtest-report.png", true);
    await page.getByRole("link", { name: "← All backtests" }).click();
    const jobRow = page.getByTestId("job-row").filter({ has: page.locator('[data-status="succeeded"]') }).first();
    await jobRow.waitFor({ timeout: 15000 });
    await jobRow.getByRole("link", { name: /Open report/ }).click();
    await page.getByTestId("report-metrics").waitFor({ timeout: 15000 });
    result.backtest.reopened = new URL(page.url()).pathname === result.backtest.path;
    emit("backtest", result.backtest);

    // A backtest's trades: the job result's trade log, drawn as a table.
    result.backtest.trade_rows = await page.getByTestId("backtest-trade-row").count();

    // An optimization of a tiny grid (fast 5/10 x slow 20/30): the heatmap of the two
    // parameters and the trials, sorted by a column.
    await fillSearch(page, "Optimization");
    await page.getByRole("button", { name: "Start optimization" }).click();
    const searchStatuses = await watchJob(page, BACKTEST_TIMEOUT_MS);
    await page.getByTestId("heatmap").waitFor({ timeout: 30000 });
    const heatmap = page.getByTestId("heatmap");
    await page.getByTestId("sort-param:fast").click();
    const fastSorted = await columnNumbers(page, "trials-table", 1);
    result.optimization = {
      path: new URL(page.url()).pathname,
      statuses: searchStatuses,
      cells: Number(await heatmap.getAttribute("data-cells")),
      filled: Number(await heatmap.getAttribute("data-filled")),
      trial_rows: await page.getByTestId("trial-row").count(),
      fast_sorted: fastSorted,
      sort_state: await page.locator("th", { has: page.getByTestId("sort-param:fast") }).getAttribute("aria-sort"),
      best: (await page.getByTestId("search-best").innerText()).replace(/\s+/g, " ").trim(),
    };
    result.screenshots.optimization = await shot(page, "optimization.png", true);
    emit("optimization", result.optimization);

    // A walk-forward on the same grid: its windows and the stitched out-of-sample curve.
    await fillSearch(page, "Walk-forward");
    await page.getByLabel("In-sample bars").fill("300");
    await page.getByLabel("Out-of-sample bars").fill("100");
    await page.getByRole("button", { name: "Start walk-forward" }).click();
    const wfStatuses = await watchJob(page, BACKTEST_TIMEOUT_MS);
    await page.getByTestId("wf-windows-table").waitFor({ timeout: 30000 });
    await page.waitForFunction(
      () => Number(document.querySelector('[data-testid="wf-equity-chart"]')?.getAttribute("data-points")) > 1,
      null,
      { timeout: 30000 },
    );
    result.walkforward = {
      statuses: wfStatuses,
      windows: await page.getByTestId("wf-window-row").count(),
      equity_points: Number(await page.getByTestId("wf-equity-chart").getAttribute("data-points")),
      summary: (await page.getByTestId("wf-summary").innerText()).replace(/\s+/g, " ").trim(),
    };
    result.screenshots.walkforward = await shot(page, "walkforward.png", true);
    emit("walkforward", result.walkforward);

    // Risk: the limits and their use, VaR, the circuit breaker.
    await nav(page, "Risk");
    await page.getByTestId("limits-table").waitFor({ timeout: 30000 });
    result.risk = {
      limit_rows: await page.getByTestId("limit-row").count(),
      var_rows: await page.locator('[data-testid="var-table"] tbody tr').count(),
      breaker: (await page.getByTestId("breaker").innerText()).replace(/\s+/g, " ").trim(),
    };
    result.screenshots.risk = await shot(page, "risk.png", true);

    // Models: the served model's card, out-of-sample scores and baselines, live quality.
    await nav(page, "Models");
    await page.getByTestId("model-card").waitFor({ timeout: 30000 });
    await page.getByTestId("live-performance").waitFor({ timeout: 30000 });
    result.models = {
      card: (await page.locator('[data-testid="model-card"] h2').innerText()).trim(),
      score_rows: await page.locator('[data-testid="scores-table"] tbody tr').count(),
      hit_rate: (await page.getByTestId("hit-rate").innerText()).trim(),
    };
    result.screenshots.models = await shot(page, "models.png", true);

    // The settings pages: each loads and shows its key element. A tenant without a paid
    // subscription (404) and a server without a Telegram bot (404) are states, not errors:
    // the browser still logs those answers, kept apart.
    const errorsBeforeSettings = result.console_errors.length;
    const httpBeforeSettings = result.http_errors.length;
    result.settings = {};
    await nav(page, "Terminals");
    await page.getByRole("heading", { name: "MT5 terminals" }).waitFor();
    await page.getByTestId("terminal-row").first().waitFor({ timeout: 15000 });
    // The replayed terminal, held connected by the test until this step reports it.
    await page.getByTestId("live-terminal-row").first().waitFor({ timeout: 30000 });
    result.settings.terminals = {
      rows: await page.getByTestId("terminal-row").count(),
      snippet: (await page.getByTestId("terminal-snippet").innerText()).trim(),
      live_rows: await page.getByTestId("live-terminal-row").count(),
      live: (await page.getByTestId("live-terminal-row").first().innerText()).replace(/\s+/g, " ").trim(),
    };
    result.screenshots.terminals = await shot(page, "terminals.png", true);
    emit("terminals_seen", result.settings.terminals);

    await nav(page, "Notifications");
    await page.getByRole("heading", { name: "Notifications", exact: true }).waitFor();
    await page.getByTestId("preferences-form").waitFor({ timeout: 15000 });
    await page.getByTestId("telegram-state").waitFor({ timeout: 15000 });
    await page.getByLabel("backtest finished: own channels").check();
    await page.getByLabel("backtest finished by telegram").uncheck();
    await page.getByRole("button", { name: "Save preferences" }).click();
    await page.getByTestId("preferences-saved").waitFor({ timeout: 15000 });
    await page.reload({ waitUntil: "load" });
    await page.getByTestId("preferences-form").waitFor({ timeout: 15000 });
    result.settings.notifications = {
      kinds: await page.getByTestId("event-kind-row").count(),
      telegram: await page.getByTestId("telegram-state").getAttribute("data-state"),
      // Stored: after a reload the kind keeps its own channels, without Telegram.
      own_channels: await page.getByLabel("backtest finished: own channels").isChecked(),
      by_telegram: await page.getByLabel("backtest finished by telegram").isChecked(),
      by_email: await page.getByLabel("backtest finished by email").isChecked(),
    };
    result.screenshots.notifications = await shot(page, "notifications.png", true);

    await nav(page, "Team");
    await page.getByRole("heading", { name: "Team and roles" }).waitFor();
    await page.getByTestId("member-row").first().waitFor({ timeout: 15000 });
    await page.getByLabel("E-mail").fill("teammate@example.com");
    await page.getByLabel("Role", { exact: true }).selectOption("viewer");
    await page.getByRole("button", { name: "Send invitation" }).click();
    await page.getByTestId("invitation-row").filter({ hasText: "teammate@example.com" }).waitFor({ timeout: 15000 });
    result.settings.team = {
      members: await page.getByTestId("member-row").count(),
      invitations: await page.getByTestId("invitation-row").count(),
    };
    result.screenshots.team = await shot(page, "team.png", true);

    await nav(page, "Billing");
    await page.getByRole("heading", { name: "Billing", exact: true }).waitFor();
    await page.getByTestId("subscription-state").waitFor({ timeout: 15000 });
    await page.getByTestId("plan").first().waitFor({ timeout: 15000 });
    result.settings.billing = {
      plans: await page.getByTestId("plan").count(),
      subscription: (await page.getByTestId("subscription-state").innerText()).replace(/\s+/g, " ").trim(),
    };
    result.screenshots.billing = await shot(page, "billing.png", true);
    result.console_errors_settings = result.console_errors.splice(errorsBeforeSettings);
    result.http_errors_settings = result.http_errors.slice(httpBeforeSettings);
    emit("settings", result.settings);

    // The light theme and a phone-sized screen.
    result.theme_before = await page.evaluate(() => document.documentElement.dataset.theme);
    await page.getByRole("button", { name: /^(Light|Dark) theme$/ }).click();
    result.theme = await page.evaluate(() => document.documentElement.dataset.theme);
    result.screenshots.paper_light = await shot(page, "paper-light.png");
    await page.getByRole("button", { name: /^(Light|Dark) theme$/ }).click();

    // The stored bars at M1 (the REST history of the replayed ticks), with the markers.
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Market" }).click();
    await page.getByLabel("Timeframe").selectOption("M1");
    await page.waitForFunction(
      () => Number(document.querySelector('[data-testid="candle-chart"]')?.getAttribute("data-bars")) >= 10,
      null,
      { timeout: 30000 },
    );
    result.m1_bars = Number(await page.getByTestId("candle-chart").getAttribute("data-bars"));
    result.screenshots.market_m1 = await shot(page, "market-m1.png");
    await page.setViewportSize({ width: 390, height: 844 });
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Market" }).click();
    await page.getByTestId("candle-chart").waitFor();
    result.phone_overflow = await page.evaluate(
      () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
    );
    result.screenshots.phone = await shot(page, "market-phone.png");

    // A reload keeps the session (the stored refresh token, rotated); from the top of the
    // page the keyboard's first Tab reaches the skip link.
    await page.reload({ waitUntil: "load" });
    await page.getByRole("heading", { name: "Live market" }).waitFor();
    await page.keyboard.press("Tab");
    result.first_tab = await page.evaluate(() => document.activeElement?.textContent?.trim());

    // The admin pages: hidden before (not a superadmin); the test granted superadmin after
    // the key was made, which a new session carries.
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByLabel("E-mail").fill(EMAIL);
    await page.getByLabel("Password").fill(PASSWORD);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("heading", { name: "Live market" }).waitFor();
    await nav(page, "Admin");
    await page.getByRole("heading", { name: "Admin", exact: true }).waitFor();
    await page.locator('[data-testid="bi-cards"], [data-testid="bi-overview"] [role="alert"]').first().waitFor({ timeout: 30000 });
    // The table, or the empty or error state: not the loading state, which comes first.
    await page
      .locator('[data-testid="tenants-table"], #tenants-title ~ .state-empty, #tenants-title ~ .state-error')
      .first()
      .waitFor({ timeout: 30000 });
    result.admin = {
      bi_cards: await page.getByTestId("bi-cards").count(),
      bi_text: (await page.getByTestId("bi-overview").innerText()).replace(/\s+/g, " ").trim().slice(0, 400),
      tenant_rows: await page.getByTestId("tenant-row").count(),
      tenants_text: (await page.getByTestId("tenants-table").innerText()).replace(/\s+/g, " ").trim(),
    };
    result.screenshots.admin = await shot(page, "admin.png", true);
    emit("admin", result.admin);

    // Links from e-mails, at the server's root as the templates write them: the gateway
    // redirects into the app, which takes the token out of the address bar and redeems it.
    // A made-up token is refused (the browser logs the 4xx answers as console errors).
    const errorsBeforeLinks = result.console_errors.length;
    await settledGoto(page, refreshes, `${BASE}/verify-email?token=made-up-token`, { waitUntil: "load" });
    await page.getByTestId("verify-page").getByRole("alert").waitFor({ timeout: 15000 });
    result.verify = {
      path: new URL(page.url()).pathname + new URL(page.url()).search,
      message: (await page.getByTestId("verify-page").getByRole("alert").innerText()).trim(),
    };
    await settledGoto(page, refreshes, `${BASE}/reset-password?token=made-up-token`, { waitUntil: "load" });
    await page.getByLabel("New password", { exact: true }).fill(PASSWORD + "-new");
    await page.getByLabel("Repeat the new password").fill(PASSWORD + "-new");
    await page.getByRole("button", { name: "Set the new password" }).click();
    await page.getByTestId("reset-confirm").getByRole("alert").waitFor({ timeout: 15000 });
    result.reset = {
      path: new URL(page.url()).pathname + new URL(page.url()).search,
      message: (await page.getByTestId("reset-confirm").getByRole("alert").innerText()).trim(),
    };
    result.screenshots.reset = await shot(page, "reset-password.png");
    await settledGoto(page, refreshes, `${BASE}/app/reset-password`, { waitUntil: "load" });
    await page.getByLabel("E-mail").fill(EMAIL);
    await page.getByRole("button", { name: "Send the link" }).click();
    await page.getByTestId("reset-request").getByRole("status").waitFor({ timeout: 15000 });
    result.reset.requested = (await page.getByTestId("reset-request").getByRole("status").innerText()).trim();
    result.console_errors_links = result.console_errors.splice(errorsBeforeLinks);
    await settledGoto(page, refreshes, `${BASE}/app/market`, { waitUntil: "load" });
    await page.getByRole("heading", { name: "Live market" }).waitFor();
    await page.locator('[data-testid="stream-status"][data-status="open"]').waitFor({ timeout: 30000 });

    result.violations = await page.evaluate(() => window.__violations);

    // The server goes away: the app says it is offline and keeps reconnecting.
    const errorsOnline = result.console_errors.length;
    emit("stop_server");
    await page.getByTestId("offline-banner").waitFor({ timeout: 60000 });
    result.offline_banner = (await page.getByTestId("offline-banner").innerText()).replace(/\s+/g, " ").trim();
    result.stream_status = await page.getByTestId("stream-status").getAttribute("data-status");
    result.screenshots.offline = await shot(page, "offline.png");
    result.console_errors_offline = result.console_errors.splice(errorsOnline);
    await context.close();
  } finally {
    await browser.close();
  }
  writeFileSync(join(ARTIFACTS, "result.json"), JSON.stringify(result, null, 2));
  emit("done", result);
}

main().catch((error) => {
  emit("error", { message: String(error?.stack || error) });
  process.exit(1);
});
