// Drives the web app in Debian's headless chromium for tests/e2e/test_webapp.py.
//
// The Python test runs the server, reads this script's stdout (one JSON event per line) and
// replays MT5 ticks once the browser watches the market. Steps: first load (JavaScript
// bytes transferred), register, sign out, sign in, create an API key in the UI (printed for
// the replay), watch the live market until ticks stream (frame timings of the chart while
// they do) and a buy/sell signal shows as a row and a chart marker, then the paper account.
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

async function shot(page, name) {
  const path = join(ARTIFACTS, name);
  await page.screenshot({ path, fullPage: false });
  return path;
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
    page.on("console", (message) => {
      if (message.type() === "error") result.console_errors.push(message.text());
    });
    page.on("pageerror", (error) => result.console_errors.push(String(error)));
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
    result.screenshots.paper = await shot(page, "paper.png");

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
