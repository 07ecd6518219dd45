/** A model's live quality on one symbol: hit rate against the baseline, Brier, calibration, drift. */
import type { ModelPerformance } from "../../api/analysisTypes";
import { formatNumber, formatPercent } from "../../format";
import { useResource } from "../../ui/hooks";
import { Empty, ErrorBox, Loading } from "../../ui/states";
import { CalibrationPlot } from "./CalibrationPlot";

const REFRESH_MS = 30_000;
const DRIFT_ROWS = 12;
const DRIFT_LIMIT = 0.25;
const FEW_VECTORS = 100;

export function LivePerformance({ name, symbol, timeframe }: { name: string; symbol: string; timeframe: string }) {
  const query = new URLSearchParams({ symbol, timeframe });
  const perf = useResource<ModelPerformance>(`/api/v1/models/${encodeURIComponent(name)}/performance?${query}`, REFRESH_MS);
  if (perf.error) return <ErrorBox error={perf.error} retry={perf.reload} />;
  if (!perf.data) return <Loading what="the live performance" />;
  const p = perf.data;
  const psi = Object.entries(p.drift.psi).sort((a, b) => b[1] - a[1]);
  return (
    <div className="live-grid" data-testid="live-performance">
      <div>
        {p.below_baseline ? (
          <p className="state state-error" role="alert">
            Below its baseline: the live hit rate is under the majority-class accuracy of the training data.
          </p>
        ) : null}
        <dl className="cards">
          <div className="card">
            <dt>Live hit rate</dt>
            <dd data-testid="hit-rate">{formatPercent(p.hit_rate)}</dd>
          </div>
          <div className="card">
            <dt>Baseline accuracy</dt>
            <dd>{formatPercent(p.baseline_accuracy)}</dd>
          </div>
          <div className="card">
            <dt>Brier score</dt>
            <dd>{formatNumber(p.brier, 3)}</dd>
          </div>
          <div className="card">
            <dt>Scored</dt>
            <dd>
              {formatNumber(p.scored, 0)} <span className="muted small">of {formatNumber(p.scored_total, 0)}</span>
            </dd>
          </div>
        </dl>
        {p.scored ? null : (
          <Empty>
            No scored predictions on {p.symbol} {p.timeframe} yet: a prediction is scored when its horizon has passed.
          </Empty>
        )}
        <h3>Drift</h3>
        {psi.length ? (
          <>
            <p className="small">
              Largest PSI {formatNumber(p.drift.max_psi, 3)} over the last {p.drift.vectors} live feature vectors;{" "}
              {p.drift.drifting.length ? `drifting: ${p.drift.drifting.join(", ")}` : "no feature drifts (PSI > 0.25)"}.
              {p.drift.vectors < FEW_VECTORS ? ` Only ${p.drift.vectors} vectors so far: the PSI is noisy until about ${FEW_VECTORS}.` : ""}
            </p>
            <div className="table-wrap">
              <table className="table" data-testid="drift-table">
                <thead>
                  <tr>
                    <th scope="col">Feature</th>
                    <th scope="col" className="num">PSI</th>
                  </tr>
                </thead>
                <tbody>
                  {psi.slice(0, DRIFT_ROWS).map(([feature, value]) => (
                    <tr key={feature}>
                      <td>
                        <code>{feature}</code>
                      </td>
                      <td className={`num ${value > DRIFT_LIMIT ? "down" : ""}`}>{formatNumber(value, 3)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          </>
        ) : (
          <Empty>No live feature vectors on {p.symbol} yet: drift is measured once features stream.</Empty>
        )}
      </div>
      <div>
        {p.calibration.length ? <CalibrationPlot bins={p.calibration} /> : <Empty>No calibration yet: no scored predictions.</Empty>}
      </div>
    </div>
  );
}
