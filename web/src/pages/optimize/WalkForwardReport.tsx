/** A finished walk-forward: the windows (in-sample, then out-of-sample), their figures, the stitched OOS equity. */
import { useMemo } from "react";
import type { BacktestJob } from "../../api/analysisTypes";
import type { WalkForwardResult, WalkForwardWindow } from "../../api/searchTypes";
import { formatNumber, formatSigned, formatTime } from "../../format";
import type { Theme } from "../../ui/hooks";
import { SeriesChart } from "../../ui/SeriesChart";
import { Empty } from "../../ui/states";

interface Props {
  job: BacktestJob;
  result: WalkForwardResult;
  theme: Theme;
  timeZone: string;
}

function pct(value: number | null | undefined): string {
  return value === null || value === undefined ? "—" : `${formatSigned(value, 2)} %`;
}

/** Each window as two bars on one bar-index axis: in-sample (muted) then out-of-sample (accent). */
function WindowsTimeline({ windows }: { windows: WalkForwardWindow[] }) {
  const first = Math.min(...windows.map((w) => w.is_start));
  const last = Math.max(...windows.map((w) => w.oos_stop));
  const span = Math.max(1, last - first);
  const row = 14;
  const width = 1000;
  const left = 36;
  const scale = (bar: number) => left + ((bar - first) / span) * (width - left - 4);
  return (
    <figure className="timeline" data-testid="wf-timeline">
      <svg viewBox={`0 0 ${width} ${windows.length * row + 4}`} role="img" aria-label="In-sample and out-of-sample bars of each window">
        {windows.map((w, i) => (
          <g key={w.index}>
            <text x={left - 6} y={i * row + 11} textAnchor="end">
              {w.index + 1}
            </text>
            <rect className="is" x={scale(w.is_start)} y={i * row + 2} width={Math.max(1, scale(w.is_stop) - scale(w.is_start))} height={row - 4}>
              <title>{`window ${w.index + 1}: in-sample bars ${w.is_start}–${w.is_stop}`}</title>
            </rect>
            <rect className="oos" x={scale(w.oos_start)} y={i * row + 2} width={Math.max(1, scale(w.oos_stop) - scale(w.oos_start))} height={row - 4}>
              <title>{`window ${w.index + 1}: out-of-sample bars ${w.oos_start}–${w.oos_stop}`}</title>
            </rect>
          </g>
        ))}
      </svg>
      <figcaption className="muted small">
        <span className="swatch swatch-is" aria-hidden="true" /> in-sample (parameters chosen){" "}
        <span className="swatch swatch-oos" aria-hidden="true" /> out-of-sample (traded)
      </figcaption>
    </figure>
  );
}

export function WalkForwardReport({ job, result, theme, timeZone }: Props) {
  const equity = useMemo(
    () => (result.equity_curve?.ts ?? []).map((ts, i) => ({ ts, value: result.equity_curve!.equity[i] })),
    [result],
  );
  const windows = result.window_results ?? [];
  return (
    <>
      <p className="muted" data-testid="wf-scope">
        {job.symbol} {job.timeframe} · {formatNumber(result.windows, 0)} windows, {result.anchored ? "anchored" : "rolling"} ·{" "}
        {result.method} search on {result.objective}
      </p>
      <dl className="cards" data-testid="wf-summary">
        <div className="card">
          <dt>Out-of-sample return</dt>
          <dd>{pct(typeof result.return_pct === "number" ? result.return_pct : null)}</dd>
        </div>
        <div className="card">
          <dt>OOS annual return</dt>
          <dd>{pct(result.oos_annual_return)}</dd>
        </div>
        <div className="card">
          <dt>IS annual return (mean)</dt>
          <dd>{pct(result.is_annual_return_mean)}</dd>
        </div>
        <div className="card">
          <dt>Efficiency (OOS / IS)</dt>
          <dd>{formatNumber(result.efficiency, 2)}</dd>
        </div>
        <div className="card">
          <dt>OOS trades</dt>
          <dd>{formatNumber(result.oos_trades, 0)}</dd>
        </div>
        <div className="card">
          <dt>Final equity</dt>
          <dd>{formatNumber(result.final_equity, 2)}</dd>
        </div>
      </dl>
      <section aria-labelledby="wf-equity-title" className="panel">
        <h2 id="wf-equity-title">Stitched out-of-sample equity</h2>
        {equity.length ? (
          <SeriesChart points={equity} theme={theme} timeZone={timeZone} label="Equity of the out-of-sample blocks, stitched" testId="wf-equity-chart" />
        ) : (
          <Empty>No out-of-sample curve.</Empty>
        )}
      </section>
      <section aria-labelledby="wf-windows-title" className="panel">
        <h2 id="wf-windows-title">Windows</h2>
        {windows.length ? <WindowsTimeline windows={windows} /> : null}
        {windows.length ? (
          <div className="table-wrap">
            <table className="table" data-testid="wf-windows-table">
              <thead>
                <tr>
                  <th scope="col" className="num">#</th>
                  <th scope="col">In-sample ({timeZone})</th>
                  <th scope="col">Out-of-sample ({timeZone})</th>
                  <th scope="col">Parameters</th>
                  <th scope="col" className="num">IS return</th>
                  <th scope="col" className="num">OOS return</th>
                  <th scope="col" className="num">IS Sharpe</th>
                  <th scope="col" className="num">OOS Sharpe</th>
                  <th scope="col" className="num">OOS trades</th>
                  <th scope="col" className="num">Efficiency</th>
                </tr>
              </thead>
              <tbody>
                {windows.map((w) => (
                  <tr key={w.index} data-testid="wf-window-row">
                    <td className="num">{w.index + 1}</td>
                    <td className="nowrap">
                      {formatTime(w.is_from_ts, timeZone)} – {formatTime(w.is_to_ts, timeZone)}
                    </td>
                    <td className="nowrap">
                      {formatTime(w.oos_from_ts, timeZone)} – {formatTime(w.oos_to_ts, timeZone)}
                    </td>
                    <td>{Object.entries(w.params).map(([k, v]) => `${k} ${String(v)}`).join(", ") || "—"}</td>
                    <td className="num">{pct(w.is_return_pct)}</td>
                    <td className={`num ${(w.oos_return_pct ?? 0) >= 0 ? "up" : "down"}`}>{pct(w.oos_return_pct)}</td>
                    <td className="num">{formatNumber(w.is_sharpe, 2)}</td>
                    <td className="num">{formatNumber(w.oos_sharpe, 2)}</td>
                    <td className="num">{formatNumber(w.oos_trades, 0)}</td>
                    <td className="num">{formatNumber(w.efficiency, 2)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        ) : (
          <Empty>No windows: too few bars for one in-sample and one out-of-sample block.</Empty>
        )}
      </section>
    </>
  );
}
