/** Start a parameter search (grid, random or Bayesian) or a walk-forward: each parameter searched over a range or fixed. */
import { useState } from "react";
import { api, ApiError } from "../../api/client";
import type { BacktestJob } from "../../api/analysisTypes";
import { ErrorBox } from "../../ui/states";
import { knownSymbols, utcDay } from "../backtests/NewBacktestForm";
import { STRATEGIES, TIMEFRAMES, type ParamSpec } from "../backtests/strategies";

const SEARCHABLE = STRATEGIES.filter((s) => s.params.length);
const OBJECTIVES = ["sharpe", "return_pct", "sortino", "calmar", "profit_factor", "expectancy", "win_rate_pct", "max_drawdown_pct", "trades"];

interface RangeInput {
  search: boolean;
  low: number;
  high: number;
  step: number;
  value: number;
}

function roundTo(value: number, step: number): number {
  return Number((Math.round(value / step) * step).toFixed(6));
}

/** A default range around the parameter's default: half to double, about four values. */
export function defaultRange(p: ParamSpec, search: boolean): RangeInput {
  const low = Math.max(p.min, roundTo(p.value / 2, p.step));
  const high = Math.min(p.max ?? Infinity, roundTo(p.value * 2, p.step));
  const step = Math.max(p.step, roundTo((high - low) / 3, p.step));
  return { search, low, high, step, value: p.value };
}

function defaults(strategy: string): Record<string, RangeInput> {
  const spec = SEARCHABLE.find((s) => s.name === strategy) ?? SEARCHABLE[0];
  return Object.fromEntries(spec.params.map((p, i) => [p.name, defaultRange(p, i < 2)]));
}

export function OptimizeForm({ onStarted }: { onStarted: (job: BacktestJob) => void }) {
  const symbols = knownSymbols();
  const [kind, setKind] = useState<"optimize" | "walkforward">("optimize");
  const [strategy, setStrategy] = useState(SEARCHABLE[0].name);
  const [ranges, setRanges] = useState<Record<string, RangeInput>>(() => defaults(SEARCHABLE[0].name));
  const [symbol, setSymbol] = useState(symbols[0] ?? "EURUSD");
  const [timeframe, setTimeframe] = useState("M5");
  const [method, setMethod] = useState<"grid" | "random" | "bayes">("grid");
  const [trials, setTrials] = useState(20);
  const [objective, setObjective] = useState("sharpe");
  const [minTrades, setMinTrades] = useState(1);
  const [inSample, setInSample] = useState(2000);
  const [outOfSample, setOutOfSample] = useState(500);
  const [anchored, setAnchored] = useState(false);
  const [from, setFrom] = useState("");
  const [to, setTo] = useState("");
  const [cash, setCash] = useState(10_000);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const spec = SEARCHABLE.find((s) => s.name === strategy) ?? SEARCHABLE[0];

  const pick = (name: string) => {
    setStrategy(name);
    setRanges(defaults(name));
  };
  const change = (name: string, patch: Partial<RangeInput>) => setRanges({ ...ranges, [name]: { ...ranges[name], ...patch } });

  const submit = async (event: React.FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    const searched = Object.entries(ranges).filter(([, r]) => r.search);
    const fixed = Object.entries(ranges).filter(([, r]) => !r.search);
    try {
      const job = await api<BacktestJob>("/api/v1/backtests", {
        method: "POST",
        body: {
          kind,
          symbol: symbol.trim().toUpperCase(),
          timeframe,
          strategy,
          params: Object.fromEntries(fixed.map(([name, r]) => [name, r.value])),
          ranges: Object.fromEntries(searched.map(([name, r]) => [name, { low: r.low, high: r.high, step: r.step }])),
          method,
          trials: method === "grid" ? undefined : trials,
          objective,
          min_trades: minTrades,
          config: { cash },
          from: utcDay(from),
          to: utcDay(to),
          ...(kind === "walkforward" ? { in_sample: inSample, out_of_sample: outOfSample, anchored } : {}),
        },
      });
      onStarted(job);
    } catch (caught) {
      setError(caught instanceof ApiError ? caught : new ApiError(0, "client_error", String(caught)));
    } finally {
      setBusy(false);
    }
  };

  const searchedCount = Object.values(ranges).filter((r) => r.search).length;
  return (
    <form className="panel form form-wide" onSubmit={submit} aria-labelledby="new-search-title">
      <h2 id="new-search-title">New optimization or walk-forward</h2>
      <div className="tabs" role="radiogroup" aria-label="Kind of job">
        {(["optimize", "walkforward"] as const).map((k) => (
          <button key={k} type="button" role="radio" className="tab" aria-checked={kind === k} aria-selected={kind === k} onClick={() => setKind(k)}>
            {k === "optimize" ? "Optimization" : "Walk-forward"}
          </button>
        ))}
      </div>
      <div className="form-grid">
        <label className="field">
          <span>Strategy</span>
          <select name="strategy" value={strategy} onChange={(e) => pick(e.target.value)}>
            {SEARCHABLE.map((s) => (
              <option key={s.name} value={s.name}>
                {s.label}
              </option>
            ))}
          </select>
        </label>
        <label className="field">
          <span>Symbol</span>
          <input name="symbol" required list="search-symbols" pattern="[A-Za-z0-9._#\-]{2,32}" value={symbol} onChange={(e) => setSymbol(e.target.value)} />
          <datalist id="search-symbols">
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
        <label className="field">
          <span>Method</span>
          <select value={method} onChange={(e) => setMethod(e.target.value as typeof method)}>
            <option value="grid">Grid (every combination)</option>
            <option value="random">Random</option>
            <option value="bayes">Bayesian (Optuna TPE)</option>
          </select>
        </label>
        {method !== "grid" ? (
          <label className="field">
            <span>Trials</span>
            <input type="number" required min={1} max={10000} step={1} value={trials} onChange={(e) => setTrials(e.target.valueAsNumber)} />
          </label>
        ) : null}
        <label className="field">
          <span>Objective</span>
          <select value={objective} onChange={(e) => setObjective(e.target.value)}>
            {OBJECTIVES.map((o) => (
              <option key={o}>{o}</option>
            ))}
          </select>
        </label>
        <label className="field">
          <span>Minimum trades</span>
          <input type="number" required min={0} step={1} value={minTrades} onChange={(e) => setMinTrades(e.target.valueAsNumber)} />
        </label>
        {kind === "walkforward" ? (
          <>
            <label className="field">
              <span>In-sample bars</span>
              <input type="number" required min={10} step={1} value={inSample} onChange={(e) => setInSample(e.target.valueAsNumber)} />
            </label>
            <label className="field">
              <span>Out-of-sample bars</span>
              <input type="number" required min={1} step={1} value={outOfSample} onChange={(e) => setOutOfSample(e.target.valueAsNumber)} />
            </label>
            <label className="check">
              <input type="checkbox" checked={anchored} onChange={(e) => setAnchored(e.target.checked)} />
              <span>Anchored (in-sample grows from the first bar)</span>
            </label>
          </>
        ) : null}
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
      </div>
      <fieldset className="field">
        <legend>Parameters</legend>
        <div className="table-wrap">
          <table className="table ranges" data-testid="ranges-table">
            <thead>
              <tr>
                <th scope="col">Parameter</th>
                <th scope="col">Search</th>
                <th scope="col">From</th>
                <th scope="col">To</th>
                <th scope="col">Step</th>
                <th scope="col">Fixed value</th>
              </tr>
            </thead>
            <tbody>
              {spec.params.map((p) => {
                const r = ranges[p.name] ?? defaultRange(p, false);
                return (
                  <tr key={`${strategy}-${p.name}`}>
                    <th scope="row">{p.label}</th>
                    <td>
                      <input type="checkbox" aria-label={`Search ${p.name}`} checked={r.search} onChange={(e) => change(p.name, { search: e.target.checked })} />
                    </td>
                    <td>
                      <input type="number" aria-label={`${p.name} from`} disabled={!r.search} required min={p.min} max={p.max} step={p.step} value={r.low} onChange={(e) => change(p.name, { low: e.target.valueAsNumber })} />
                    </td>
                    <td>
                      <input type="number" aria-label={`${p.name} to`} disabled={!r.search} required min={p.min} max={p.max} step={p.step} value={r.high} onChange={(e) => change(p.name, { high: e.target.valueAsNumber })} />
                    </td>
                    <td>
                      <input type="number" aria-label={`${p.name} step`} disabled={!r.search} required min={p.step} step={p.step} value={r.step} onChange={(e) => change(p.name, { step: e.target.valueAsNumber })} />
                    </td>
                    <td>
                      <input type="number" aria-label={`${p.name} fixed`} disabled={r.search} required min={p.min} max={p.max} step={p.step} value={r.value} onChange={(e) => change(p.name, { value: e.target.valueAsNumber })} />
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      </fieldset>
      <p className="muted small">
        {searchedCount >= 2
          ? "The heatmap shows the objective over two of the searched parameters."
          : "Search two parameters for a heatmap."}{" "}
        Optimizations and walk-forwards need the Pro tier.
      </p>
      <div className="row">
        <button type="submit" disabled={busy || searchedCount === 0}>
          {busy ? "Starting…" : kind === "optimize" ? "Start optimization" : "Start walk-forward"}
        </button>
      </div>
      {error ? <ErrorBox error={error} /> : null}
    </form>
  );
}
