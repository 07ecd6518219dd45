/** The shapes of the notification, team, billing and admin answers the web app reads. */

export interface Preferences {
  default_channels: string[];
  events: Record<string, string[]>;
  min_severity: "info" | "warning" | "critical";
  symbols: string[];
  quiet_hours: { start: string; end: string } | null;
  digest: "off" | "hourly" | "daily";
  digest_hour: number;
  terminal_offline_min: number | null;
}

export interface TelegramBinding {
  linked: boolean;
  enabled: boolean;
  muted_until: string | null;
}

export interface TelegramLink {
  url: string;
  expires_at: string;
}

export interface NotificationItem {
  id: string;
  event_type: string;
  channel: string;
  address: string;
  severity: string;
  subject: string;
  state: "pending" | "sending" | "sent" | "failed" | "dead";
  attempts: number;
  sent_at: string | null;
  last_error: string | null;
  created_at: string;
}

export type Role = "owner" | "admin" | "trader" | "viewer";

export interface Member {
  user_id: string;
  email: string;
  name: string;
  role: Role;
  email_verified: boolean;
  is_active: boolean;
  created_at: string;
}

export interface Invitation {
  id: string;
  email: string;
  role: Role;
  invited_by: string;
  created_at: string;
  expires_at: string;
}

export interface Plan {
  plan: string;
  name: string;
  tier: string;
  prices: Record<string, { idr: number; usd_display: string }>;
}

export interface Plans {
  currency: string;
  ppn_rate_percent: string;
  items: Plan[];
}

export interface Subscription {
  plan: string;
  period: string;
  status: string;
  current_period_start: string;
  current_period_end: string;
  grace_until: string | null;
  cancel_at_period_end: boolean;
  trial_used: boolean;
  scheduled_plan: string | null;
  scheduled_period: string | null;
  auto_renew: boolean;
  card_saved: boolean;
}

export interface Checkout {
  order_id: string;
  token: string;
  redirect_url: string;
  gross_amount_idr: number;
}

export interface Invoice {
  id: string;
  invoice_number: string;
  order_id: string;
  plan: string;
  period: string;
  currency: string;
  total_idr: number;
  issued_at: string;
  period_start: string | null;
  period_end: string | null;
}

export interface TenantSubscription {
  tenant_id: string;
  subscription: Subscription;
}

export interface TenantSummary {
  tenant_id: string;
  name: string;
  tier: string;
  limit_overrides: Record<string, unknown>;
  limits: Record<string, unknown>;
}

export interface BiOverview {
  as_of: number;
  tenants: number;
  active_terminals: number;
  terminals_by_tier: Record<string, number>;
  mrr: { mrr_idr: number; arr_idr: number; by_plan: Record<string, number>; subscriptions_by_status: Record<string, number> };
  months: {
    month: string;
    signups: number;
    activity: { active: number; new: number; churned: number; reactivated: number };
    paying: { active: number; new: number; churned: number; reactivated: number };
    mrr_idr: number;
  }[];
  conversion: { signups: number; paid_ever: number; free_to_paid_rate: number | null; median_days_to_first_payment: number | null };
  usage: {
    month: string;
    items: { tier: string; tenants: number; active_tenants: number; ticks: number; messages: number; api_calls: number; terminals: number }[];
  };
}

/** A row of `GET /api/v1/admin/tenants`. */
export interface TenantListItem {
  tenant_id: string;
  name: string;
  tier: string;
  created_at: string;
  user_count: number;
  subscription_status: string | null;
  subscription_plan: string | null;
}

export interface TenantsPage {
  items: TenantListItem[];
  next_offset: number | null;
}
