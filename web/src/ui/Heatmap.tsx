/**
 * A plain SVG heatmap: a metric over two parameters, the colour from worst (red) to best
 * (green) whichever way the objective points; empty cells (no feasible trial) hatched grey.
 * Each cell carries its value as a tooltip and, when the grid is small, as text.
 */
import type { ParamValue } from "../api/searchTypes";
import { formatNumber } from "../format";

interface Props {
  x: string;
  y: string;
  xValues: ParamValue[];
  yValues: ParamValue[];
  z: (number | null)[][];
  /** Whether a lower value is better (a drawdown). */
  minimize: boolean;
  metric: string;
  testId?: string;
}

const CELL = 56;
const LEFT = 64;
const TOP = 12;
const BOTTOM = 44;
const LEGEND = 84;
const TEXT_LIMIT = 14;

/** A colour from red (0) through amber to green (1). */
export function heatColor(share: number): string {
  const hue = Math.round(Math.max(0, Math.min(1, share)) * 130);
  return `hsl(${hue} 70% 42%)`;
}

function label(value: ParamValue): string {
  return typeof value === "number" ? formatNumber(value, Number.isInteger(value) ? 0 : 2) : String(value);
}

export function Heatmap({ x, y, xValues, yValues, z, minimize, metric, testId = "heatmap" }: Props) {
  const values = z.flat().filter((v): v is number => v !== null && Number.isFinite(v));
  const low = values.length ? Math.min(...values) : 0;
  const high = values.length ? Math.max(...values) : 1;
  const share = (v: number) => {
    const s = high === low ? 1 : (v - low) / (high - low);
    return minimize ? 1 - s : s;
  };
  const width = LEFT + xValues.length * CELL + LEGEND;
  const height = TOP + yValues.length * CELL + BOTTOM;
  const showText = xValues.length <= TEXT_LIMIT && yValues.length <= TEXT_LIMIT;
  // The first y value at the bottom, as on a chart.
  const rowY = (i: number) => TOP + (yValues.length - 1 - i) * CELL;
  return (
    <figure className="heatmap" data-testid={testId} data-cells={xValues.length * yValues.length} data-filled={values.length}>
      <svg
        viewBox={`0 0 ${width} ${height}`}
        width={width}
        role="img"
        aria-label={`${metric} by ${x} (across) and ${y} (up); ${values.length} of ${xValues.length * yValues.length} combinations scored`}
      >
        <defs>
          <pattern id="heatmap-empty" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">
            <line x1="0" y1="0" x2="0" y2="6" className="hatch" />
          </pattern>
        </defs>
        {yValues.map((yv, i) =>
          xValues.map((xv, j) => {
            const v = z[i]?.[j] ?? null;
            const text = v === null ? "no feasible trial" : formatNumber(v, 3);
            return (
              <g key={`${i}-${j}`} data-testid="heatmap-cell">
                <rect
                  x={LEFT + j * CELL}
                  y={rowY(i)}
                  width={CELL - 2}
                  height={CELL - 2}
                  rx={3}
                  fill={v === null ? "url(#heatmap-empty)" : heatColor(share(v))}
                  className={v === null ? "empty" : undefined}
                >
                  <title>{`${x} ${label(xv)}, ${y} ${label(yv)}: ${metric} ${text}`}</title>
                </rect>
                {showText && v !== null ? (
                  <text x={LEFT + j * CELL + (CELL - 2) / 2} y={rowY(i) + CELL / 2 + 3} textAnchor="middle" className="cell-text">
                    {formatNumber(v, Math.abs(v) >= 100 ? 0 : 2)}
                  </text>
                ) : null}
              </g>
            );
          }),
        )}
        {xValues.map((xv, j) => (
          <text key={`x-${j}`} x={LEFT + j * CELL + CELL / 2 - 1} y={TOP + yValues.length * CELL + 14} textAnchor="middle">
            {label(xv)}
          </text>
        ))}
        {yValues.map((yv, i) => (
          <text key={`y-${i}`} x={LEFT - 6} y={rowY(i) + CELL / 2 + 3} textAnchor="end">
            {label(yv)}
          </text>
        ))}
        <text x={LEFT + (xValues.length * CELL) / 2} y={height - 6} textAnchor="middle" className="axis-name">
          {x} →
        </text>
        <text x={12} y={TOP + (yValues.length * CELL) / 2} textAnchor="middle" className="axis-name" transform={`rotate(-90 12 ${TOP + (yValues.length * CELL) / 2})`}>
          {y} →
        </text>
        {[0, 0.25, 0.5, 0.75, 1].map((s) => (
          <rect
            key={s}
            x={width - LEGEND + 16}
            y={TOP + (1 - s) * Math.max(0, yValues.length * CELL - 12)}
            width={12}
            height={12}
            fill={heatColor(s)}
          />
        ))}
        <text x={width - LEGEND + 32} y={TOP + 10}>
          best
        </text>
        <text x={width - LEGEND + 32} y={TOP + Math.max(12, yValues.length * CELL - 2)}>
          worst
        </text>
      </svg>
      <figcaption className="muted small">
        {metric}: {values.length ? `${formatNumber(minimize ? high : low, 3)} (worst) to ${formatNumber(minimize ? low : high, 3)} (best)` : "no feasible combination"}
        ; hatched cells had no feasible trial.
      </figcaption>
    </figure>
  );
}
