/** The paper account: summary, equity curve, open positions with SL/TP, the last trades, attribution. */
import type { PaperAccount } from "../api/types";
import { formatMoney, formatNumber, formatPercent, formatPrice, formatSigned, formatTime } from "../format";
import { EquityChart } from "../ui/EquityChart";
import { PaperAttribution } from "./PaperAttribution";
import { useResource, useTheme, useTimeZone } from "../ui/hooks";
import { Empty, ErrorBox, Loading } from "../ui/states";

const REFRESH_MS = 5_000;

export function PaperPage() {
  const theme = useTheme();
  const timeZone = useTimeZone();
  const paper = useResource<PaperAccount>("/api/v1/trading/paper?curve_points=1440", REFRESH_MS);

  return (
    <section aria-labelledby="paper-title" className="page">
      <header className="page-header">
        <h1 id="paper-title">Paper account</h1>
        <p className="muted">
          Every bar-close signal is paper-traded. Refreshed every {REFRESH_MS / 1000} s; times in {timeZone}.
        </p>
      </header>
      {paper.error ? <ErrorBox error={paper.error} retry={paper.reload} /> : null}
      {paper.loading && !paper.data ? <Loading what="the paper account" /> : null}
      {paper.data ? <PaperView account={paper.data} theme={theme} timeZone={timeZone} /> : null}
      <PaperAttribution refreshMs={REFRESH_MS} />
    </section>
  );
}

function PaperView({ account, theme, timeZone }: { account: PaperAccount; theme: "dark" | "light"; timeZone: string }) {
  const summary = account.account;
  const currency = summary.account_currency || "USD";
  const pnl = summary.equity - summary.starting_balance;
  return (
    <>
      {summary.halted ? (
        <div className="state state-error" role="alert">
          Circuit breaker: new signals are halted — {summary.halted}
        </div>
      ) : null}
      <dl className="cards" data-testid="paper-summary">
        <Card label="Equity" value={formatMoney(summary.equity, currency)} />
        <Card label="Balance" value={formatMoney(summary.balance, currency)} />
        <Card label="P&L" value={formatSigned(pnl)} tone={pnl} />
        <Card label="Open P&L" value={formatSigned(summary.unrealized_pnl)} tone={summary.unrealized_pnl} />
        <Card label="Margin used" value={formatMoney(summary.margin_used, currency)} />
        <Card label="Max drawdown" value={formatPercent(summary.max_drawdown_fraction, 2)} />
      </dl>
      <section aria-labelledby="equity-title" className="panel">
        <h2 id="equity-title">Equity</h2>
        {account.equity_curve.length ? (
          <EquityChart points={account.equity_curve} theme={theme} timeZone={timeZone} />
        ) : (
          <Empty>No equity points yet: the curve starts with the first paper trade.</Empty>
        )}
      </section>
      <section aria-labelledby="positions-title" className="panel">
        <h2 id="positions-title">Open positions</h2>
        {account.positions.length ? (
          <div className="table-wrap">
            <table className="table" data-testid="positions-table">
              <thead>
                <tr>
                  <th scope="col">Symbol</th>
                  <th scope="col">Side</th>
                  <th scope="col" className="num">Lots</th>
                  <th scope="col" className="num">Entry</th>
                  <th scope="col" className="num">Stop loss</th>
                  <th scope="col" className="num">Take profit</th>
                  <th scope="col">Opened ({timeZone})</th>
                </tr>
              </thead>
              <tbody>
                {account.positions.map((position) => (
                  <tr key={position.symbol} data-testid="position-row">
                    <td>{position.symbol}</td>
                    <td>
                      <span className={`pill pill-${position.side}`}>{position.side}</span>
                    </td>
                    <td className="num">{formatNumber(position.lots, 2)}</td>
                    <td className="num">{formatPrice(position.symbol, position.entry_price)}</td>
                    <td className="num">{formatPrice(position.symbol, position.stop_loss)}</td>
                    <td className="num">{formatPrice(position.symbol, position.take_profit)}</td>
                    <td className="nowrap">{formatTime(position.entry_ts, timeZone)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        ) : (
          <Empty>No open positions.</Empty>
        )}
      </section>
      <section aria-labelledby="trades-title" className="panel">
        <h2 id="trades-title">Last trades</h2>
        {account.trades.length ? (
          <div className="table-wrap">
            <table className="table" data-testid="trades-table">
              <thead>
                <tr>
                  <th scope="col">Symbol</th>
                  <th scope="col">Side</th>
                  <th scope="col" className="num">Lots</th>
                  <th scope="col" className="num">Entry</th>
                  <th scope="col" className="num">Exit</th>
                  <th scope="col" className="num">P&L</th>
                  <th scope="col">Exit by</th>
                  <th scope="col">Closed ({timeZone})</th>
                </tr>
              </thead>
              <tbody>
                {[...account.trades].reverse().map((trade) => (
                  <tr key={`${trade.symbol}-${trade.entry_ts}-${trade.exit_ts}`}>
                    <td>{trade.symbol}</td>
                    <td>
                      <span className={`pill pill-${trade.side}`}>{trade.side}</span>
                    </td>
                    <td className="num">{formatNumber(trade.lots, 2)}</td>
                    <td className="num">{formatPrice(trade.symbol, trade.entry_price)}</td>
                    <td className="num">{formatPrice(trade.symbol, trade.exit_price)}</td>
                    <td className={`num ${trade.pnl >= 0 ? "up" : "down"}`}>{formatSigned(trade.pnl)}</td>
                    <td>{trade.exit_reason.replace(/_/g, " ")}</td>
                    <td className="nowrap">{formatTime(trade.exit_ts, timeZone)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        ) : (
          <Empty>No closed trades yet.</Empty>
        )}
      </section>
    </>
  );
}

function Card({ label, value, tone }: { label: string; value: string; tone?: number }) {
  const toneClass = tone === undefined || tone === 0 ? "" : tone > 0 ? "up" : "down";
  return (
    <div className="card">
      <dt>{label}</dt>
      <dd className={toneClass}>{value}</dd>
    </div>
  );
}
