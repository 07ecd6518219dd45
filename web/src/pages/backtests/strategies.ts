/** The built-in strategies a backtest can run and their parameters (`chainflow.backtest.strategies`). */

export interface ParamSpec {
  name: string;
  label: string;
  value: number;
  min: number;
  max?: number;
  step: number;
}

export interface StrategySpec {
  name: string;
  label: string;
  params: ParamSpec[];
}

const crossover = (fast: number, slow: number): ParamSpec[] => [
  { name: "fast", label: "Fast period (bars)", value: fast, min: 2, step: 1 },
  { name: "slow", label: "Slow period (bars)", value: slow, min: 3, step: 1 },
];

export const STRATEGIES: StrategySpec[] = [
  { name: "sma_crossover", label: "SMA crossover", params: crossover(10, 30) },
  { name: "ema_crossover", label: "EMA crossover", params: crossover(10, 30) },
  {
    name: "rsi_mean_reversion",
    label: "RSI mean reversion",
    params: [
      { name: "period", label: "RSI period (bars)", value: 14, min: 2, step: 1 },
      { name: "lower", label: "Buy below RSI", value: 30, min: 1, max: 99, step: 1 },
      { name: "upper", label: "Sell above RSI", value: 70, min: 1, max: 99, step: 1 },
    ],
  },
  {
    name: "bollinger_breakout",
    label: "Bollinger breakout",
    params: [
      { name: "period", label: "Band period (bars)", value: 20, min: 2, step: 1 },
      { name: "k", label: "Width (standard deviations)", value: 2, min: 0.1, max: 10, step: 0.1 },
    ],
  },
  {
    name: "macd",
    label: "MACD crossover",
    params: [
      ...crossover(12, 26),
      { name: "signal", label: "Signal period", value: 9, min: 1, step: 1 },
    ],
  },
  {
    name: "donchian_breakout",
    label: "Donchian breakout",
    params: [{ name: "period", label: "Channel period (bars)", value: 20, min: 2, step: 1 }],
  },
  { name: "ml", label: "Served ML model", params: [] },
];

export const TIMEFRAMES = ["M1", "M5", "M15", "M30", "H1", "H4", "D1"];

export function strategyLabel(name: string): string {
  return STRATEGIES.find((s) => s.name === name)?.label ?? name;
}

export function defaultParams(name: string): Record<string, number> {
  const spec = STRATEGIES.find((s) => s.name === name);
  return Object.fromEntries((spec?.params ?? []).map((p) => [p.name, p.value]));
}
