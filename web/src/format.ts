/** Numbers at each symbol's digits, money, and times in the user's time zone. */

const DIGITS_BY_QUOTE: Record<string, number> = { JPY: 3, HUF: 3 };
const DIGITS_BY_SYMBOL: Record<string, number> = {
  XAUUSD: 2,
  XAGUSD: 3,
  XPTUSD: 2,
  BTCUSD: 2,
  ETHUSD: 2,
  US30: 1,
  US500: 2,
  NAS100: 1,
  GER40: 1,
  UK100: 1,
  JP225: 0,
  USOIL: 3,
  UKOIL: 3,
};

/** MT5's digits of a symbol: 5 for most FX pairs, 3 for JPY quotes, per table otherwise. */
export function digitsFor(symbol: string): number {
  const base = symbol.toUpperCase().replace(/[^A-Z0-9]/g, "").slice(0, 6);
  if (base in DIGITS_BY_SYMBOL) return DIGITS_BY_SYMBOL[base];
  const quote = base.slice(3, 6);
  if (base.length === 6 && quote in DIGITS_BY_QUOTE) return DIGITS_BY_QUOTE[quote];
  return 5;
}

export function formatPrice(symbol: string, value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return "—";
  return value.toFixed(digitsFor(symbol));
}

export function formatNumber(value: number | null | undefined, digits = 2): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return "—";
  return value.toLocaleString(undefined, {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
}

export function formatMoney(value: number | null | undefined, currency = "USD"): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return "—";
  return new Intl.NumberFormat(undefined, { style: "currency", currency }).format(value);
}

export function formatSigned(value: number | null | undefined, digits = 2): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return "—";
  const text = formatNumber(Math.abs(value), digits);
  return value > 0 ? `+${text}` : value < 0 ? `−${text}` : text;
}

export function formatPercent(value: number | null | undefined, digits = 1): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return "—";
  return `${(value * 100).toFixed(digits)}%`;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string, kind: "full" | "time" | "axis" | "date"): Intl.DateTimeFormat {
  const key = `${timeZone}|${kind}`;
  let found = formatters.get(key);
  if (!found) {
    const options: Intl.DateTimeFormatOptions =
      kind === "full"
        ? { dateStyle: "medium", timeStyle: "medium" }
        : kind === "time"
          ? { hour: "2-digit", minute: "2-digit", hour12: false }
          : kind === "date"
            ? { month: "short", day: "numeric" }
            : { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false };
    found = new Intl.DateTimeFormat(undefined, { ...options, timeZone });
    formatters.set(key, found);
  }
  return found;
}

/** A safe IANA zone: the given one when the browser knows it, else UTC. */
export function safeTimeZone(zone: string | null | undefined): string {
  if (!zone) return "UTC";
  try {
    new Intl.DateTimeFormat(undefined, { timeZone: zone });
    return zone;
  } catch {
    return "UTC";
  }
}

/** Date and time in `timeZone`, with the zone's short name (e.g. "GMT+7"). */
export function formatTime(ms: number | null | undefined, timeZone: string): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return "—";
  return `${formatter(timeZone, "full").format(ms)} ${zoneAbbreviation(timeZone, ms)}`;
}

export function formatClock(ms: number, timeZone: string): string {
  return formatter(timeZone, "time").format(ms);
}

export function formatAxisTime(ms: number, timeZone: string): string {
  return formatter(timeZone, "axis").format(ms);
}

export function formatDay(ms: number, timeZone: string): string {
  return formatter(timeZone, "date").format(ms);
}

export function zoneAbbreviation(timeZone: string, ms = Date.now()): string {
  const parts = new Intl.DateTimeFormat("en-US", { timeZone, timeZoneName: "short" }).formatToParts(ms);
  return parts.find((part) => part.type === "timeZoneName")?.value ?? timeZone;
}

export function formatIsoTime(iso: string | null | undefined, timeZone: string): string {
  if (!iso) return "—";
  return formatTime(Date.parse(iso), timeZone);
}
