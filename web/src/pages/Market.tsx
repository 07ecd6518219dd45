/** Live market: a candlestick chart per symbol, live ticks and signal markers, the signals. */
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { loadRecentBars } from "../api/bars";
import type { Bar, Signal } from "../api/types";
import { stream, type Frame } from "../live/stream";
import { CandleChart, TIMEFRAME_MS } from "../ui/CandleChart";
import { useLoader, useResource, useTheme, useTimeZone } from "../ui/hooks";
import { SignalsTable } from "../ui/SignalsTable";
import { ErrorBox, Loading } from "../ui/states";

const SYMBOLS_KEY = "chainflow.symbols";
const DEFAULT_SYMBOLS = ["EURUSD", "GBPUSD", "USDJPY"];
const HISTORY_BARS = 1500;
const MAX_SIGNALS = 200;
const SYMBOL_PATTERN = /^[A-Z0-9._#-]{2,64}$/;
const NO_BARS: Bar[] = [];

function storedSymbols(): string[] {
  try {
    const parsed = JSON.parse(localStorage.getItem(SYMBOLS_KEY) ?? "null") as unknown;
    if (Array.isArray(parsed) && parsed.every((s) => typeof s === "string") && parsed.length) {
      return parsed as string[];
    }
  } catch {
    // fall through to the defaults
  }
  return DEFAULT_SYMBOLS;
}

function signalKey(signal: Signal): string {
  return `${signal.symbol}|${signal.ts}|${signal.action}`;
}

export function MarketPage() {
  const theme = useTheme();
  const timeZone = useTimeZone();
  const [symbols, setSymbols] = useState<string[]>(storedSymbols);
  const [symbol, setSymbol] = useState<string>(() => storedSymbols()[0]);
  const [timeframe, setTimeframe] = useState("M5");
  const [draft, setDraft] = useState("");
  const [draftError, setDraftError] = useState<string | null>(null);
  const [live, setLive] = useState<Signal[]>([]);
  const tabs = useRef<HTMLDivElement>(null);

  const loadBars = useCallback(
    (signal: AbortSignal) =>
      loadRecentBars(symbol, timeframe, TIMEFRAME_MS[timeframe] ?? 300_000, HISTORY_BARS, signal),
    [symbol, timeframe],
  );
  const bars = useLoader(`${symbol}|${timeframe}`, loadBars);
  const page = bars.data;
  const chartBars = useMemo(
    () => (page && page.symbol === symbol && page.timeframe === timeframe ? page.items : NO_BARS),
    [page, symbol, timeframe],
  );
  const stored = useResource<{ items: Signal[] }>(`/api/v1/signals?limit=${MAX_SIGNALS}`);

  useEffect(() => {
    localStorage.setItem(SYMBOLS_KEY, JSON.stringify(symbols));
    stream.follow(symbols);
  }, [symbols]);

  useEffect(
    () =>
      stream.on("signal", (frame: Frame) => {
        const signal = frame as unknown as Signal;
        setLive((previous) => [signal, ...previous].slice(0, MAX_SIGNALS));
      }),
    [],
  );

  const signals = useMemo(() => {
    const seen = new Set<string>();
    const merged: Signal[] = [];
    for (const signal of [...live, ...(stored.data?.items ?? [])]) {
      const key = signalKey(signal);
      if (seen.has(key)) continue;
      seen.add(key);
      merged.push(signal);
    }
    return merged.sort((a, b) => b.ts - a.ts).slice(0, MAX_SIGNALS);
  }, [live, stored.data]);

  const addSymbol = (event: React.FormEvent) => {
    event.preventDefault();
    const wanted = draft.trim().toUpperCase();
    if (!SYMBOL_PATTERN.test(wanted)) {
      setDraftError("A symbol such as EURUSD (letters, digits, . _ # -).");
      return;
    }
    setDraftError(null);
    setDraft("");
    if (!symbols.includes(wanted)) setSymbols([...symbols, wanted]);
    setSymbol(wanted);
  };

  const onTabKey = (event: React.KeyboardEvent) => {
    const index = symbols.indexOf(symbol);
    const step = event.key === "ArrowRight" ? 1 : event.key === "ArrowLeft" ? -1 : 0;
    if (!step) return;
    event.preventDefault();
    const next = symbols[(index + step + symbols.length) % symbols.length];
    setSymbol(next);
    tabs.current?.querySelector<HTMLButtonElement>(`[data-symbol="${next}"]`)?.focus();
  };

  return (
    <section aria-labelledby="market-title" className="page">
      <header className="page-header">
        <h1 id="market-title">Live market</h1>
        <p className="muted">Times in {timeZone}. Prices are bid candles from your MT5 ticks.</p>
      </header>
      <div className="toolbar">
        <div role="tablist" aria-label="Symbols" className="tabs" ref={tabs} onKeyDown={onTabKey}>
          {symbols.map((name) => (
            <button
              key={name}
              type="button"
              role="tab"
              data-symbol={name}
              aria-selected={name === symbol}
              tabIndex={name === symbol ? 0 : -1}
              className="tab"
              onClick={() => setSymbol(name)}
            >
              {name}
            </button>
          ))}
        </div>
        <label className="inline-field">
          <span>Timeframe</span>
          <select value={timeframe} onChange={(event) => setTimeframe(event.target.value)}>
            {Object.keys(TIMEFRAME_MS).map((tf) => (
              <option key={tf} value={tf}>
                {tf}
              </option>
            ))}
          </select>
        </label>
        <form className="inline-field" onSubmit={addSymbol}>
          <label htmlFor="add-symbol" className="sr-only">
            Add a symbol
          </label>
          <input
            id="add-symbol"
            value={draft}
            placeholder="Add symbol"
            maxLength={64}
            onChange={(event) => setDraft(event.target.value)}
            aria-invalid={draftError !== null}
            aria-describedby={draftError ? "add-symbol-error" : undefined}
          />
          <button type="submit" className="button-secondary">
            Add
          </button>
          {draftError ? (
            <span id="add-symbol-error" className="field-error">
              {draftError}
            </span>
          ) : null}
        </form>
      </div>
      <div role="tabpanel" aria-label={`${symbol} chart`} className="panel">
        {bars.error ? <ErrorBox error={bars.error} retry={bars.reload} /> : null}
        {bars.loading && !bars.data ? <Loading what={`${symbol} bars`} /> : null}
        <CandleChart
          symbol={symbol}
          timeframe={timeframe}
          bars={chartBars}
          signals={signals}
          theme={theme}
          timeZone={timeZone}
        />
        {bars.data && !bars.data.items.length ? (
          <p className="muted small">No stored bars in this window yet: candles form as ticks arrive.</p>
        ) : null}
      </div>
      <section aria-labelledby="signals-title" className="panel">
        <h2 id="signals-title">Signals</h2>
        {stored.error ? <ErrorBox error={stored.error} retry={stored.reload} /> : null}
        {stored.loading && !stored.data ? <Loading what="signals" /> : <SignalsTable signals={signals} timeZone={timeZone} />}
      </section>
    </section>
  );
}
