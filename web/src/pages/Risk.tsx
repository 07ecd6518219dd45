/** Risk: the circuit breaker, every limit and its use, VaR and CVaR, exposure and stress. */
import type { LimitUse, PortfolioRisk, VarFigure } from "../api/analysisTypes";
import { formatMoney, formatNumber, formatPercent, formatPrice, formatSigned, formatTime } from "../format";
import { useResource, useTimeZone } from "../ui/hooks";
import { Empty, ErrorBox, Loading } from "../ui/states";

const REFRESH_MS = 10_000;
const METHODS: Record<string, string> = {
  historical: "Historical",
  parametric: "Parametric",
  monte_carlo: "Monte Carlo",
};

export function RiskPage() {
  const timeZone = useTimeZone();
  const risk = useResource<PortfolioRisk>("/api/v1/risk/portfolio", REFRESH_MS);
  return (
    <section aria-labelledby="risk-title" className="page">
      <header className="page-header">
        <h1 id="risk-title">Risk</h1>
        <p className="muted">
          Your account's limits and how much of each is used, one-day value at risk and the circuit breaker. Refreshed every{" "}
          {REFRESH_MS / 1000} s{risk.data ? `; as of ${formatTime(risk.data.ts, timeZone)}` : ""}.
        </p>
      </header>
      {risk.error ? <ErrorBox error={risk.error} retry={risk.reload} /> : null}
      {risk.loading && !risk.data ? <Loading what="your risk" /> : null}
      {risk.data ? <RiskView risk={risk.data} /> : null}
    </section>
  );
}

function RiskView({ risk }: { risk: PortfolioRisk }) {
  const currency = risk.account_currency || "USD";
  const money = (value: number | null | undefined) => formatMoney(value, currency);
  const { limits, drawdown } = risk;
  return (
    <>
      {risk.breaker.tripped ? (
        <div className="state state-error" role="alert" data-testid="breaker" data-tripped="true">
          <span>
            <strong>Circuit breaker tripped</strong> — new signals are halted: {risk.breaker.reason ?? "no reason given"}
            {risk.breaker.source ? ` (${risk.breaker.source})` : ""}
          </span>
        </div>
      ) : (
        <div className="state state-info" role="status" data-testid="breaker" data-tripped="false">
          <span>
            <strong>Circuit breaker armed</strong> — not tripped; it halts new signals when the daily loss or drawdown limit
            is reached.
          </span>
        </div>
      )}
      <dl className="cards" data-testid="risk-summary">
        <Card label="Equity" value={money(risk.equity)} />
        <Card label="Balance" value={money(risk.balance)} />
        <Card label="Drawdown" value={`${formatNumber(drawdown.drawdown_pct, 2)} %`} />
        <Card label="Today's P&L" value={`${formatSigned(drawdown.daily_pnl)} (${formatSigned(drawdown.daily_pnl_pct)} %)`} />
        <Card label="Risk per trade" value={`${formatNumber(limits.risk_per_trade_pct, 2)} % · ${money(limits.risk_per_trade_budget)}`} />
        <Card label="Leverage" value={`1:${limits.leverage}`} />
      </dl>
      <section aria-labelledby="limits-title" className="panel">
        <h2 id="limits-title">Limits and their use</h2>
        <div className="table-wrap">
          <table className="table" data-testid="limits-table">
            <thead>
              <tr>
                <th scope="col">Limit</th>
                <th scope="col" className="num">Now</th>
                <th scope="col" className="num">Limit</th>
                <th scope="col">Used</th>
              </tr>
            </thead>
            <tbody>
              <LimitRow name="Daily loss" use={limits.daily_loss} currency={currency} />
              <LimitRow name="Drawdown" use={limits.drawdown} currency={currency} />
              <LimitRow name="Open positions" use={limits.open_positions} currency={currency} />
              {limits.symbol_exposure.map((use) => (
                <LimitRow key={`s-${use.symbol}`} name={`${use.symbol} exposure`} use={use} currency={currency} />
              ))}
              {limits.correlated_exposure.map((use) => (
                <LimitRow key={`c-${use.symbol}`} name={`${use.symbol} and correlated`} use={use} currency={currency} />
              ))}
            </tbody>
          </table>
        </div>
        <p className="muted small">
          Symbols count as correlated above a correlation of {formatNumber(limits.correlation_threshold, 2)}.
        </p>
      </section>
      <VarPanel risk={risk} />
      <section aria-labelledby="exposure-title" className="panel">
        <h2 id="exposure-title">Exposure</h2>
        {risk.exposure.symbols.length ? (
          <div className="table-wrap">
            <table className="table" data-testid="exposure-table">
              <thead>
                <tr>
                  <th scope="col">Symbol</th>
                  <th scope="col" className="num">Net lots</th>
                  <th scope="col" className="num">Price</th>
                  <th scope="col" className="num">Net notional</th>
                  <th scope="col" className="num">Share of equity</th>
                </tr>
              </thead>
              <tbody>
                {risk.exposure.symbols.map((row) => (
                  <tr key={row.symbol}>
                    <td>{row.symbol}</td>
                    <td className="num">{formatSigned(row.lots, 2)}</td>
                    <td className="num">{formatPrice(row.symbol, row.price)}</td>
                    <td className="num">{money(row.notional)}</td>
                    <td className="num">{formatNumber(row.share_of_equity_pct, 1)} %</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        ) : (
          <Empty>No open positions: nothing is exposed.</Empty>
        )}
      </section>
      <section aria-labelledby="stress-title" className="panel">
        <h2 id="stress-title">Stress scenarios</h2>
        <div className="table-wrap">
          <table className="table">
            <thead>
              <tr>
                <th scope="col">Scenario</th>
                <th scope="col" className="num">P&L</th>
                <th scope="col" className="num">Of equity</th>
              </tr>
            </thead>
            <tbody>
              {risk.stress.map((row) => (
                <tr key={row.scenario}>
                  <td>
                    {row.scenario}
                    <div className="muted small">{row.description}</div>
                  </td>
                  <td className={`num ${row.pnl < 0 ? "down" : ""}`}>{money(row.pnl)}</td>
                  <td className="num">{formatSigned(row.pnl_pct_of_equity)} %</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </section>
    </>
  );
}

function LimitRow({ name, use, currency }: { name: string; use: LimitUse; currency: string }) {
  const show = (value: number) =>
    use.unit === "pct"
      ? `${formatNumber(value, 2)} %`
      : use.unit === "notional"
        ? formatMoney(value, currency)
        : formatNumber(value, use.unit === "positions" ? 0 : 2);
  const used = Math.max(0, use.used_pct);
  return (
    <tr data-testid="limit-row">
      <th scope="row">{name}</th>
      <td className="num">{show(use.value)}</td>
      <td className="num">{show(use.limit)}</td>
      <td>
        <div className="usage">
          <meter min={0} max={100} low={60} high={85} optimum={0} value={Math.min(100, used)} aria-label={`${name}: ${formatNumber(used, 1)} % used`} />
          <span className={`num small ${used >= 100 ? "down" : ""}`}>{formatNumber(used, 1)} %</span>
        </div>
      </td>
    </tr>
  );
}

function VarPanel({ risk }: { risk: PortfolioRisk }) {
  const currency = risk.account_currency || "USD";
  const cell = (figure: VarFigure | undefined, key: "var" | "cvar") =>
    figure === undefined ? "—" : figure[key] === null ? <span title={figure.reason ?? ""}>n/a</span> : formatMoney(figure[key], currency);
  const methods = [...new Set(risk.var.figures.map((f) => f.method))];
  const levels = [...new Set(risk.var.figures.map((f) => f.confidence))].sort();
  const reasons = [...new Set(risk.var.figures.map((f) => f.reason).filter((r): r is string => !!r))];
  return (
    <section aria-labelledby="var-title" className="panel">
      <h2 id="var-title">Value at risk ({risk.var.horizon_days} day)</h2>
      <div className="table-wrap">
        <table className="table" data-testid="var-table">
          <thead>
            <tr>
              <th scope="col">Method</th>
              {levels.map((level) => (
                <th scope="col" className="num" key={`v${level}`}>
                  VaR {formatPercent(level, 0)}
                </th>
              ))}
              {levels.map((level) => (
                <th scope="col" className="num" key={`c${level}`}>
                  CVaR {formatPercent(level, 0)}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {methods.map((method) => {
              const of = (level: number) => risk.var.figures.find((f) => f.method === method && f.confidence === level);
              return (
                <tr key={method}>
                  <th scope="row">{METHODS[method] ?? method}</th>
                  {levels.map((level) => (
                    <td className="num" key={`v${level}`}>
                      {cell(of(level), "var")}
                    </td>
                  ))}
                  {levels.map((level) => (
                    <td className="num" key={`c${level}`}>
                      {cell(of(level), "cvar")}
                    </td>
                  ))}
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
      <p className="muted small">
        {risk.var.observations
          ? `From ${risk.var.observations} ${risk.var.timeframe ?? ""} log returns of the stored bars.`
          : "No returns used."}{" "}
        {risk.var.note ?? ""} {reasons.join(" ")}
      </p>
    </section>
  );
}

function Card({ label, value }: { label: string; value: string }) {
  return (
    <div className="card">
      <dt>{label}</dt>
      <dd>{value}</dd>
    </div>
  );
}
