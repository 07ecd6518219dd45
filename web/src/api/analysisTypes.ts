/** The shapes of the backtest, risk and model answers the web app reads (README "The API"). */

export type JobStatus = "queued" | "running" | "succeeded" | "failed" | "cancelled" | "interrupted";

export interface BacktestTrade {
  side: "long" | "short";
  size: number;
  entry_ts: number;
  entry_price: number;
  exit_ts: number;
  exit_price: number;
  pnl: number;
  commission: number;
  swap: number;
  exit_reason: string;
}

/** A finished job's result: metrics by name (null when undefined), the thinned curve. */
export interface BacktestResult {
  [metric: string]: unknown;
  strategy?: string;
  params?: Record<string, unknown>;
  notes?: string[];
  engine?: string;
  bars?: number;
  from_ts?: number;
  to_ts?: number;
  trades?: number;
  equity_curve?: { ts: number[]; equity: number[] };
  /** A backtest's first 1,000 closed trades, oldest first (`trades` counts them all). */
  trade_log?: BacktestTrade[];
  trade_log_truncated?: boolean;
}

export interface BacktestJob {
  id: string;
  kind: "backtest" | "optimize" | "walkforward";
  status: JobStatus;
  progress: number;
  symbol: string;
  timeframe: string;
  strategy: string;
  created_at: string;
  started_at?: string | null;
  finished_at?: string | null;
  error?: string | null;
  checkpoint?: { unit: string; done: number; total: number } | null;
  result?: BacktestResult | null;
}

export interface LimitUse {
  value: number;
  limit: number;
  used_pct: number;
  unit: "pct" | "positions" | "lots" | "notional" | string;
  symbol: string | null;
}

export interface VarFigure {
  method: string;
  confidence: number;
  var: number | null;
  cvar: number | null;
  reason: string | null;
}

export interface PortfolioRisk {
  ts: number;
  account_currency: string;
  balance: number;
  equity: number;
  exposure: {
    symbols: {
      symbol: string;
      lots: number;
      gross_lots: number;
      price: number;
      notional: number;
      share_of_equity_pct: number;
    }[];
    gross_notional: number;
    net_notional: number;
    gross_pct_of_equity: number;
  };
  var: {
    horizon_days: number;
    timeframe: string | null;
    observations: number;
    figures: VarFigure[];
    correlations: { first: string; second: string; value: number }[];
    note: string | null;
  };
  stress: { scenario: string; description: string; pnl: number; pnl_pct_of_equity: number }[];
  drawdown: {
    equity: number;
    peak_equity: number;
    drawdown: number;
    drawdown_pct: number;
    daily_pnl: number;
    daily_pnl_pct: number;
  };
  limits: {
    risk_per_trade_pct: number;
    risk_per_trade_budget: number;
    leverage: number;
    daily_loss: LimitUse;
    drawdown: LimitUse;
    open_positions: LimitUse;
    symbol_exposure: LimitUse[];
    correlated_exposure: LimitUse[];
    correlation_threshold: number;
  };
  breaker: { tripped: boolean; reason: string | null; source: string | null };
}

export interface ModelSummary {
  name: string;
  owner: "platform" | "tenant";
  family: string;
  latest_version: number;
  production_version: number | null;
  version_count: number;
}

export type ScoreSet = Record<string, number | null | undefined>;

export interface ModelVersion {
  name: string;
  version: number;
  ref: string;
  owner: "platform" | "tenant";
  family: string;
  stage: "candidate" | "production" | "archived";
  feature_set: string;
  label: Record<string, unknown>;
  symbols: string[];
  timeframe: string;
  train_from_ts: number;
  train_to_ts: number;
  metrics: {
    oos?: ScoreSet;
    baselines?: Record<string, ScoreSet>;
    dataset?: { rows?: number; features?: number; class_share?: Record<string, number> };
    [key: string]: unknown;
  };
  artifact_sha256: string;
  artifact_bytes: number;
  created_at: string;
  promoted_at: string | null;
  created_by: string | null;
}

export interface CalibrationBin {
  low: number;
  high: number;
  count: number;
  confidence: number;
  hit_rate: number;
}

export interface ModelPerformance {
  model: string;
  symbol: string;
  timeframe: string;
  scored: number;
  scored_total: number;
  hit_rate: number | null;
  brier: number | null;
  baseline_accuracy: number;
  below_baseline: boolean;
  calibration: CalibrationBin[];
  training: { oos: ScoreSet | null; baselines: Record<string, ScoreSet> | null };
  drift: { vectors: number; psi: Record<string, number>; max_psi: number | null; drifting: string[] };
}
