/** A finished backtest's report: metrics, equity and drawdown curves, notes, trades. */
import { useMemo } from "react";
import type { BacktestJob, BacktestResult, BacktestTrade } from "../../api/analysisTypes";
import { formatNumber, formatPrice, formatSigned, formatTime } from "../../format";
import type { Theme } from "../../ui/hooks";
import { SeriesChart, type SeriesPoint } from "../../ui/SeriesChart";
import { Empty } from "../../ui/states";

const DOWN = "#dc2626";
const MAX_TRADE_ROWS = 1000;

interface Metric {
  key: string;
  label: string;
  unit?: "%" | "money";
  digits?: number;
  signed?: boolean;
}

const METRICS: Metric[] = [
  { key: "return_pct", label: "Return", unit: "%", signed: true },
  { key: "final_equity", label: "Final equity", unit: "money" },
  { key: "max_drawdown_pct", label: "Max drawdown", unit: "%" },
  { key: "sharpe", label: "Sharpe" },
  { key: "sortino", label: "Sortino" },
  { key: "annualized_return_pct", label: "Annualized return", unit: "%", signed: true },
  { key: "num_trades", label: "Trades", digits: 0 },
  { key: "win_rate_pct", label: "Win rate", unit: "%" },
  { key: "profit_factor", label: "Profit factor" },
  { key: "expectancy", label: "Expectancy per trade", signed: true },
  { key: "costs_paid", label: "Costs paid", unit: "money" },
  { key: "exposure_pct", label: "Time in market", unit: "%" },
];

function metricValue(result: BacktestResult, metric: Metric): string {
  const raw = result[metric.key];
  const value = typeof raw === "number" ? raw : null;
  if (value === null) return "—";
  const digits = metric.digits ?? 2;
  const text = metric.signed ? formatSigned(value, digits) : formatNumber(value, digits);
  return metric.unit === "%" ? `${text} %` : text;
}

/** The equity curve and the drawdown from its running peak, in percent. */
export function curves(result: BacktestResult): { equity: SeriesPoint[]; drawdown: SeriesPoint[] } {
  const curve = result.equity_curve ?? { ts: [], equity: [] };
  const equity: SeriesPoint[] = [];
  const drawdown: SeriesPoint[] = [];
  let peak = -Infinity;
  curve.ts.forEach((ts, i) => {
    const value = curve.equity[i];
    peak = Math.max(peak, value);
    equity.push({ ts, value });
    drawdown.push({ ts, value: peak > 0 ? (value / peak - 1) * 100 : 0 });
  });
  return { equity, drawdown };
}

interface Props {
  job: BacktestJob;
  result: BacktestResult;
  theme: Theme;
  timeZone: string;
}

export function BacktestReport({ job, result, theme, timeZone }: Props) {
  const { equity, drawdown } = useMemo(() => curves(result), [result]);
  const params = Object.entries(result.params ?? {})
    .map(([name, value]) => `${name} ${String(value)}`)
    .join(", ");
  return (
    <>
      <p className="muted" data-testid="report-scope">
        {job.symbol} {job.timeframe} · {formatNumber(result.bars ?? null, 0)} bars from {formatTime(result.from_ts, timeZone)} to{" "}
        {formatTime(result.to_ts, timeZone)} · {params || "default parameters"} · engine {result.engine ?? "—"}
      </p>
      <dl className="cards" data-testid="report-metrics">
        {METRICS.map((metric) => (
          <div className="card" key={metric.key}>
            <dt>{metric.label}</dt>
            <dd>{metricValue(result, metric)}</dd>
          </div>
        ))}
      </dl>
      {result.notes?.length ? (
        <ul className="notes" aria-label="Notes on the figures">
          {result.notes.map((note) => (
            <li key={note} className="muted small">
              {note}
            </li>
          ))}
        </ul>
      ) : null}
      <section aria-labelledby="bt-equity-title" className="panel">
        <h2 id="bt-equity-title">Equity</h2>
        {equity.length ? (
          <SeriesChart points={equity} theme={theme} timeZone={timeZone} label="Equity curve of the backtest" testId="backtest-equity-chart" />
        ) : (
          <Empty>No equity curve in this result.</Empty>
        )}
      </section>
      <section aria-labelledby="bt-drawdown-title" className="panel">
        <h2 id="bt-drawdown-title">Drawdown (%)</h2>
        {drawdown.length ? (
          <SeriesChart
            points={drawdown}
            theme={theme}
            timeZone={timeZone}
            label="Drawdown of the backtest from its running peak, in percent"
            testId="backtest-drawdown-chart"
            color={DOWN}
            inverted
          />
        ) : (
          <Empty>No drawdown curve in this result.</Empty>
        )}
      </section>
      <section aria-labelledby="bt-trades-title" className="panel">
        <h2 id="bt-trades-title">Trades</h2>
        <TradesTable symbol={job.symbol} trades={result.trade_log} count={result.trades} timeZone={timeZone} />
      </section>
    </>
  );
}

function TradesTable({
  symbol,
  trades,
  count,
  timeZone,
}: {
  symbol: string;
  trades: BacktestTrade[] | undefined;
  count: number | undefined;
  timeZone: string;
}) {
  if (!trades) {
    return (
      <Empty>
        {formatNumber(count ?? null, 0)} closed trades. The job's result carries their statistics above, not the trade
        log; <code>chainflow backtest --report</code> writes every trade.
      </Empty>
    );
  }
  if (!trades.length) return <Empty>No closed trades.</Empty>;
  const shown = trades.slice(0, MAX_TRADE_ROWS);
  return (
    <div className="table-wrap">
      <table className="table" data-testid="backtest-trades-table">
        <caption className="sr-only">Closed trades, oldest first</caption>
        <thead>
          <tr>
            <th scope="col" className="num">#</th>
            <th scope="col">Side</th>
            <th scope="col" className="num">Size</th>
            <th scope="col">Entry ({timeZone})</th>
            <th scope="col" className="num">Entry price</th>
            <th scope="col">Exit ({timeZone})</th>
            <th scope="col" className="num">Exit price</th>
            <th scope="col" className="num">P&L</th>
            <th scope="col">Exit by</th>
          </tr>
        </thead>
        <tbody>
          {shown.map((trade, i) => (
            <tr key={`${trade.entry_ts}-${i}`} data-testid="backtest-trade-row">
              <td className="num">{i + 1}</td>
              <td>
                <span className={`pill pill-${trade.side === "long" ? "buy" : "sell"}`}>{trade.side}</span>
              </td>
              <td className="num">{formatNumber(trade.size, 2)}</td>
              <td className="nowrap">{formatTime(trade.entry_ts, timeZone)}</td>
              <td className="num">{formatPrice(symbol, trade.entry_price)}</td>
              <td className="nowrap">{formatTime(trade.exit_ts, timeZone)}</td>
              <td className="num">{formatPrice(symbol, trade.exit_price)}</td>
              <td className={`num ${trade.pnl >= 0 ? "up" : "down"}`}>{formatSigned(trade.pnl)}</td>
              <td>{trade.exit_reason.replace(/_/g, " ")}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {(count ?? trades.length) > shown.length ? (
        <p className="muted small" data-testid="trades-truncated">
          The first {shown.length} of {formatNumber(count ?? trades.length, 0)} trades.
        </p>
      ) : null}
    </div>
  );
}
