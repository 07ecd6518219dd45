/** A finished search: the best combination, the heatmap of two chosen parameters, the trials, the best's equity. */
import { useMemo, useState } from "react";
import type { BacktestJob } from "../../api/analysisTypes";
import type { OptimizationResult } from "../../api/searchTypes";
import { formatNumber } from "../../format";
import { Heatmap } from "../../ui/Heatmap";
import type { Theme } from "../../ui/hooks";
import { SeriesChart } from "../../ui/SeriesChart";
import { Empty } from "../../ui/states";
import { chooseHeatmap, searchedParams } from "./heatmapData";
import { TrialsTable } from "./TrialsTable";

interface Props {
  job: BacktestJob;
  result: OptimizationResult;
  theme: Theme;
  timeZone: string;
}

export function OptimizationReport({ job, result, theme, timeZone }: Props) {
  const params = useMemo(() => searchedParams(result), [result]);
  const [x, setX] = useState(result.heatmap?.x ?? params[0] ?? "");
  const [y, setY] = useState(result.heatmap?.y ?? params[1] ?? "");
  const map = useMemo(() => chooseHeatmap(result, x, y), [result, x, y]);
  const equity = useMemo(
    () => (result.equity_curve?.ts ?? []).map((ts, i) => ({ ts, value: result.equity_curve!.equity[i] })),
    [result],
  );
  const best = result.best;
  return (
    <>
      <p className="muted" data-testid="search-scope">
        {job.symbol} {job.timeframe} · {result.method} search of {params.join(", ") || "no parameters"} ·{" "}
        {formatNumber(result.trials, 0)} trials, {formatNumber(result.feasible, 0)} feasible · objective {result.objective} (
        {result.direction})
      </p>
      <dl className="cards" data-testid="search-best">
        <div className="card">
          <dt>Best combination</dt>
          <dd>{best ? Object.entries(best.params).map(([k, v]) => `${k} ${String(v)}`).join(", ") : "none feasible"}</dd>
        </div>
        <div className="card">
          <dt>Best {result.objective}</dt>
          <dd>{formatNumber(best?.score ?? null, 3)}</dd>
        </div>
        <div className="card">
          <dt>Its return</dt>
          <dd>{best ? `${formatNumber(best.metrics.return_pct ?? null, 2)} %` : "—"}</dd>
        </div>
        <div className="card">
          <dt>Its max drawdown</dt>
          <dd>{best ? `${formatNumber(best.metrics.max_drawdown_pct ?? null, 2)} %` : "—"}</dd>
        </div>
      </dl>
      <section aria-labelledby="heatmap-title" className="panel">
        <h2 id="heatmap-title">Heatmap</h2>
        {params.length >= 2 ? (
          <div className="toolbar">
            <label className="inline-field">
              <span>Across</span>
              <select value={x} onChange={(e) => setX(e.target.value)} aria-label="Parameter across (x axis)">
                {params.map((p) => (
                  <option key={p}>{p}</option>
                ))}
              </select>
            </label>
            <label className="inline-field">
              <span>Up</span>
              <select value={y} onChange={(e) => setY(e.target.value)} aria-label="Parameter up (y axis)">
                {params.map((p) => (
                  <option key={p}>{p}</option>
                ))}
              </select>
            </label>
          </div>
        ) : null}
        {map ? (
          <>
            <div className="heatmap-wrap">
              <Heatmap
                x={map.x}
                y={map.y}
                xValues={map.x_values}
                yValues={map.y_values}
                z={map.z}
                minimize={result.direction === "minimize"}
                metric={result.objective}
              />
            </div>
            {map.source === "listed" ? (
              <p className="muted small">
                From the {result.results.length} best trials the result lists (the server's matrix over every trial covers
                a search of exactly two parameters); each cell is the best over the other parameters.
              </p>
            ) : null}
          </>
        ) : (
          <Empty>{params.length < 2 ? "A heatmap needs two searched parameters." : "Choose two different parameters."}</Empty>
        )}
      </section>
      <section aria-labelledby="trials-title" className="panel">
        <h2 id="trials-title">Best trials</h2>
        {result.results.length ? (
          <TrialsTable trials={result.results} params={params} objective={result.objective} />
        ) : (
          <Empty>No trials.</Empty>
        )}
      </section>
      <section aria-labelledby="best-equity-title" className="panel">
        <h2 id="best-equity-title">Equity of the best combination</h2>
        {equity.length ? (
          <SeriesChart points={equity} theme={theme} timeZone={timeZone} label="Equity curve of the best combination" testId="search-equity-chart" />
        ) : (
          <Empty>No feasible combination, so no curve.</Empty>
        )}
      </section>
    </>
  );
}
