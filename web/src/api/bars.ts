/**
 * The newest stored bars of a symbol. `GET /api/v1/market/bars` pages oldest first from
 * `start`, so ask for the last `count` bars' worth of time and widen the window (x8, a few
 * times, within the tier's retention) while it holds nothing: a terminal that stopped
 * streaming days ago still shows its last candles.
 */
import { api } from "./client";
import type { Bar, BarsPage } from "./types";

const PAGE_LIMIT = 5000;
const MAX_PAGES = 6;
const WIDENINGS = 4;

export async function loadRecentBars(
  symbol: string,
  timeframe: string,
  widthMs: number,
  count: number,
  signal: AbortSignal,
): Promise<{ symbol: string; timeframe: string; items: Bar[] }> {
  let span = count * widthMs;
  for (let attempt = 0; attempt < WIDENINGS; attempt += 1) {
    let start: number | null = Date.now() - span;
    let items: Bar[] = [];
    for (let page = 0; start !== null && page < MAX_PAGES; page += 1) {
      const query = new URLSearchParams({
        symbol,
        timeframe,
        start: String(start),
        limit: String(PAGE_LIMIT),
      });
      const answer: BarsPage = await api<BarsPage>(`/api/v1/market/bars?${query}`, { signal });
      items = items.concat(answer.items).slice(-count);
      start = answer.next_start;
    }
    if (items.length) return { symbol, timeframe, items };
    span *= 8;
  }
  return { symbol, timeframe, items: [] };
}
