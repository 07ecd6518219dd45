/** The shapes of the API answers the web app reads (README "The API"). */

export interface TokenPair {
  access_token: string;
  refresh_token: string;
  token_type: "bearer";
  expires_in: number;
  session_id: string;
}

export interface Registered {
  user_id: string;
  tenant_id: string;
  verification_required: boolean;
}

export interface Profile {
  user_id: string;
  tenant_id: string;
  email: string;
  role: string;
  tier: string;
  name: string;
  locale: string;
  timezone: string;
  is_superadmin: boolean;
}

export interface Bar {
  ts: number;
  open: number;
  high: number;
  low: number;
  close: number;
  volume: number;
}

export interface BarsPage {
  symbol: string;
  timeframe: string;
  items: Bar[];
  next_start: number | null;
}

export type Action = "buy" | "sell" | "hold";

export interface Signal {
  type: "signal";
  symbol: string;
  ts: number;
  action: Action;
  confidence: number;
  size: number;
  stop_loss: number | null;
  take_profit: number | null;
  model: string;
  reasons: string[];
  seq?: number | null;
  latency_ms?: number | null;
}

export interface ApiKey {
  id: string;
  name: string;
  prefix: string;
  scopes: string[];
  created_at: string;
  last_used_at: string | null;
}

export interface ApiKeyCreated extends ApiKey {
  key: string;
}

export interface PaperAccountSummary {
  account_currency: string;
  balance: number;
  equity: number;
  realized_pnl: number;
  unrealized_pnl: number;
  swaps: number;
  margin_used: number;
  free_margin: number;
  open_positions: number;
  trades_count: number;
  max_drawdown: number;
  max_drawdown_fraction: number;
  starting_balance: number;
  halted: string | null;
}

export interface PaperPosition {
  symbol: string;
  side: "buy" | "sell";
  lots: number;
  entry_price: number;
  entry_ts: number;
  stop_loss: number | null;
  take_profit: number | null;
  swap: number;
}

export interface PaperTrade {
  symbol: string;
  side: "buy" | "sell";
  lots: number;
  entry_ts: number;
  entry_price: number;
  exit_ts: number;
  exit_price: number;
  pnl: number;
  exit_reason: string;
}

export interface PaperAccount {
  account: PaperAccountSummary;
  positions: PaperPosition[];
  trades: PaperTrade[];
  equity_curve: { ts: number; equity: number }[];
}

export interface TickItem {
  ts: number;
  bid: number;
  ask: number;
  volume: number;
}

/** One group of `GET /api/v1/trading/attribution`; `pnl = realized + unrealized` (no swaps). */
export interface AttributionBucket {
  pnl: number;
  realized: number;
  unrealized: number;
  closed_trades: number;
  winning_trades: number;
  hit_rate: number | null;
  open_positions: number;
}

export interface AttributionRow extends AttributionBucket {
  key: string;
}

/** `total.pnl + swaps == account_pnl` (equity - starting balance). */
export interface Attribution {
  total: AttributionBucket;
  swaps: number;
  account_pnl: number;
  by_model: AttributionRow[];
  by_symbol: AttributionRow[];
  by_regime: AttributionRow[];
  by_reason: AttributionRow[];
}

/** A terminal connected now on `WS /ws/ticks` (`GET /api/v1/terminals`). */
export interface LiveTerminal {
  connection_id: string;
  api_key_id: string;
  user_id: string;
  connected_at: number;
  symbols: string[];
  ticks: number;
  messages: number;
}
