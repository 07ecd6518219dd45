/** Start a backtest: strategy and its parameters, symbol and timeframe, range, account. */
import { useState } from "react";
import { api, ApiError } from "../../api/client";
import type { BacktestJob } from "../../api/analysisTypes";
import { ErrorBox } from "../../ui/states";
import { defaultParams, STRATEGIES, TIMEFRAMES } from "./strategies";

const SYMBOLS_KEY = "chainflow.symbols";

export function knownSymbols(): string[] {
  try {
    const parsed = JSON.parse(localStorage.getItem(SYMBOLS_KEY) ?? "null") as unknown;
    if (Array.isArray(parsed)) return parsed.filter((s): s is string => typeof s === "string");
  } catch {
    // no stored list
  }
  return ["EURUSD", "GBPUSD", "USDJPY"];
}

/** A `YYYY-MM-DD` date of the form as the ISO start of that UTC day, or nothing. */
export function utcDay(value: string): string | undefined {
  return value ? `${value}T00:00:00Z` : undefined;
}

export function NewBacktestForm({ onStarted }: { onStarted: (job: BacktestJob) => void }) {
  const symbols = knownSymbols();
  const [strategy, setStrategy] = useState(STRATEGIES[0].name);
  const [params, setParams] = useState<Record<string, number>>(() => defaultParams(STRATEGIES[0].name));
  const [symbol, setSymbol] = useState(symbols[0] ?? "EURUSD");
  const [timeframe, setTimeframe] = useState("M5");
  const [from, setFrom] = useState("");
  const [to, setTo] = useState("");
  const [cash, setCash] = useState(10_000);
  const [commission, setCommission] = useState(0);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const spec = STRATEGIES.find((s) => s.name === strategy) ?? STRATEGIES[0];

  const pick = (name: string) => {
    setStrategy(name);
    setParams(defaultParams(name));
  };

  const submit = async (event: React.FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const job = await api<BacktestJob>("/api/v1/backtests", {
        method: "POST",
        body: {
          kind: "backtest",
          symbol: symbol.trim().toUpperCase(),
          timeframe,
          strategy,
          params,
          config: { cash, commission },
          from: utcDay(from),
          to: utcDay(to),
        },
      });
      onStarted(job);
    } catch (caught) {
      setError(caught instanceof ApiError ? caught : new ApiError(0, "client_error", String(caught)));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="panel form form-wide" onSubmit={submit} aria-labelledby="new-backtest-title">
      <h2 id="new-backtest-title">New backtest</h2>
      <div className="form-grid">
        <label className="field">
          <span>Strategy</span>
          <select name="strategy" value={strategy} onChange={(e) => pick(e.target.value)}>
            {STRATEGIES.map((s) => (
              <option key={s.name} value={s.name}>
                {s.label}
              </option>
            ))}
          </select>
        </label>
        <label className="field">
          <span>Symbol</span>
          <input
            name="symbol"
            required
            list="backtest-symbols"
            pattern="[A-Za-z0-9._#\-]{2,32}"
            value={symbol}
            onChange={(e) => setSymbol(e.target.value)}
          />
          <datalist id="backtest-symbols">
            {symbols.map((s) => (
              <option key={s} value={s} />
            ))}
          </datalist>
        </label>
        <label className="field">
          <span>Timeframe</span>
          <select name="timeframe" value={timeframe} onChange={(e) => setTimeframe(e.target.value)}>
            {TIMEFRAMES.map((tf) => (
              <option key={tf}>{tf}</option>
            ))}
          </select>
        </label>
        {spec.params.map((p) => (
          <label className="field" key={`${strategy}-${p.name}`}>
            <span>{p.label}</span>
            <input
              type="number"
              required
              min={p.min}
              max={p.max}
              step={p.step}
              value={params[p.name] ?? p.value}
              onChange={(e) => setParams({ ...params, [p.name]: e.target.valueAsNumber })}
            />
          </label>
        ))}
        <label className="field">
          <span>From (UTC day, optional)</span>
          <input type="date" value={from} onChange={(e) => setFrom(e.target.value)} />
        </label>
        <label className="field">
          <span>To (UTC day, excluded, optional)</span>
          <input type="date" value={to} min={from || undefined} onChange={(e) => setTo(e.target.value)} />
        </label>
        <label className="field">
          <span>Starting cash</span>
          <input type="number" required min={1} step="any" value={cash} onChange={(e) => setCash(e.target.valueAsNumber)} />
        </label>
        <label className="field">
          <span>Commission (fraction per side)</span>
          <input
            type="number"
            required
            min={0}
            max={0.99}
            step="any"
            value={commission}
            onChange={(e) => setCommission(e.target.valueAsNumber)}
          />
        </label>
      </div>
      {spec.name === "ml" ? (
        <p className="muted small">Trades the served production model's signals on the stored bars.</p>
      ) : null}
      <p className="muted small">Runs on your stored bars; without a range, on all of them.</p>
      <div className="row">
        <button type="submit" disabled={busy}>
          {busy ? "Starting…" : "Start backtest"}
        </button>
      </div>
      {error ? <ErrorBox error={error} /> : null}
    </form>
  );
}
