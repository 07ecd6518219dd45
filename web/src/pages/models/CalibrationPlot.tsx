/** Reliability diagram: per confidence bin, the mean confidence against the observed hit rate. */
import type { CalibrationBin } from "../../api/analysisTypes";
import { formatPercent } from "../../format";

const SIZE = 240;
const PAD = 34;
const SPAN = SIZE - PAD - 10;

const x = (value: number) => PAD + value * SPAN;
const y = (value: number) => SIZE - PAD - value * SPAN;

export function CalibrationPlot({ bins }: { bins: CalibrationBin[] }) {
  const most = Math.max(1, ...bins.map((b) => b.count));
  const ticks = [0, 0.25, 0.5, 0.75, 1];
  return (
    <figure className="calibration">
      <svg
        viewBox={`0 0 ${SIZE} ${SIZE}`}
        role="img"
        aria-labelledby="calibration-caption"
        data-testid="calibration-plot"
        data-bins={bins.length}
      >
        {ticks.map((t) => (
          <g key={t} className="grid">
            <line x1={x(t)} y1={y(0)} x2={x(t)} y2={y(1)} />
            <line x1={x(0)} y1={y(t)} x2={x(1)} y2={y(t)} />
            <text x={x(t)} y={SIZE - PAD + 14} textAnchor="middle">
              {t * 100}
            </text>
            <text x={PAD - 6} y={y(t) + 4} textAnchor="end">
              {t * 100}
            </text>
          </g>
        ))}
        <line className="diagonal" x1={x(0)} y1={y(0)} x2={x(1)} y2={y(1)} />
        <polyline className="curve" points={bins.map((b) => `${x(b.confidence)},${y(b.hit_rate)}`).join(" ")} />
        {bins.map((b) => (
          <circle key={b.low} className="bin" cx={x(b.confidence)} cy={y(b.hit_rate)} r={3 + 5 * Math.sqrt(b.count / most)}>
            <title>
              {`${formatPercent(b.low, 0)}–${formatPercent(b.high, 0)}: ${b.count} predictions, confidence ${formatPercent(b.confidence)}, hit rate ${formatPercent(b.hit_rate)}`}
            </title>
          </circle>
        ))}
        <text x={x(0.5)} y={SIZE - 2} textAnchor="middle">
          confidence (%)
        </text>
        <text x={10} y={y(0.5)} textAnchor="middle" transform={`rotate(-90 10 ${y(0.5)})`}>
          hit rate (%)
        </text>
      </svg>
      <figcaption id="calibration-caption" className="muted small">
        Calibration: each dot is a bin of the top class probability (size: predictions); on the diagonal the confidence
        matches the hit rate.
      </figcaption>
    </figure>
  );
}
