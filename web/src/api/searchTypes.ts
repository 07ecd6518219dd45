/** The results of optimization and walk-forward jobs (`GET /api/v1/backtests/{id}`). */

export type ParamValue = number | string | boolean;

/** One evaluated combination; `score` is null when it broke a constraint. */
export interface OptimizationTrial {
  index: number;
  params: Record<string, ParamValue>;
  score: number | null;
  feasible: boolean;
  reason: string | null;
  metrics: Record<string, number | null>;
}

/** The objective over two parameters: `z[i][j]` at `y_values[i]`, `x_values[j]`. */
export interface HeatmapData {
  x: string;
  y: string;
  x_values: ParamValue[];
  y_values: ParamValue[];
  z: (number | null)[][];
}

export interface OptimizationResult {
  strategy: string;
  method: string;
  objective: string;
  direction: "maximize" | "minimize";
  space: Record<string, { values?: ParamValue[]; low?: number; high?: number; step?: number | null }>;
  trials: number;
  feasible: number;
  best: OptimizationTrial | null;
  /** The best 20 trials, best first. */
  results: OptimizationTrial[];
  /** Over every trial, when exactly two parameters were searched. */
  heatmap: HeatmapData | null;
  equity_curve?: { ts: number[]; equity: number[] };
  elapsed_s?: number;
}

export interface WalkForwardWindow {
  index: number;
  is_start: number;
  is_stop: number;
  oos_start: number;
  oos_stop: number;
  is_from_ts: number;
  is_to_ts: number;
  oos_from_ts: number;
  oos_to_ts: number;
  params: Record<string, ParamValue>;
  trials: number;
  feasible: number;
  oos_trades: number;
  is_return_pct: number | null;
  oos_return_pct: number | null;
  is_sharpe: number | null;
  oos_sharpe: number | null;
  efficiency: number | null;
}

export interface WalkForwardResult {
  [metric: string]: unknown;
  strategy: string;
  method: string;
  objective: string;
  anchored: boolean;
  windows: number;
  oos_trades: number;
  final_equity: number;
  efficiency: number | null;
  oos_annual_return: number | null;
  is_annual_return_mean: number | null;
  window_results: WalkForwardWindow[];
  /** The stitched out-of-sample equity, thinned. */
  equity_curve?: { ts: number[]; equity: number[] };
}
