/**
 * The paper account's attribution (`GET /api/v1/trading/attribution`): P&L and hit rate by
 * symbol, model, regime or signal reason, and how the groups add up to the account's P&L
 * (realized + unrealized + swaps = equity - starting balance).
 */
import { useState } from "react";
import type { Attribution, AttributionRow } from "../api/types";
import { formatNumber, formatPercent, formatSigned } from "../format";
import { useResource } from "../ui/hooks";
import { Empty, ErrorBox, Loading } from "../ui/states";

const GROUPS = {
  by_symbol: "Symbol",
  by_model: "Model",
  by_regime: "Regime",
  by_reason: "Signal reason",
} as const;
type Group = keyof typeof GROUPS;

export function PaperAttribution({ refreshMs }: { refreshMs: number }) {
  const attribution = useResource<Attribution>("/api/v1/trading/attribution", refreshMs);
  const [group, setGroup] = useState<Group>("by_symbol");
  const data = attribution.data;
  return (
    <section aria-labelledby="attribution-title" className="panel" data-testid="attribution">
      <h2 id="attribution-title">Attribution</h2>
      {attribution.error ? <ErrorBox error={attribution.error} retry={attribution.reload} /> : null}
      {attribution.loading && !data ? <Loading what="the attribution" /> : null}
      {data ? (
        <>
          <Reconciliation data={data} />
          <label className="inline-field">
            <span>Group by</span>
            <select value={group} onChange={(e) => setGroup(e.target.value as Group)} data-testid="attribution-group">
              {Object.entries(GROUPS).map(([value, label]) => (
                <option key={value} value={value}>
                  {label}
                </option>
              ))}
            </select>
          </label>
          {data[group].length ? (
            <AttributionTable rows={data[group]} label={GROUPS[group]} />
          ) : (
            <Empty>No trades or open positions to attribute yet.</Empty>
          )}
        </>
      ) : null}
    </section>
  );
}

/** Realized + unrealized + swaps, and whether that equals the account's P&L to a cent. */
function Reconciliation({ data }: { data: Attribution }) {
  const sum = data.total.pnl + data.swaps;
  const matches = Math.abs(sum - data.account_pnl) <= 0.015;
  return (
    <p className="muted small" data-testid="attribution-reconciliation">
      Realized {formatSigned(data.total.realized)} + unrealized {formatSigned(data.total.unrealized)} + swaps{" "}
      {formatSigned(data.swaps)} = {formatSigned(sum)}; account P&L {formatSigned(data.account_pnl)}{" "}
      {matches ? "✓ reconciled" : "✗ does not reconcile"}. Closed trades count for the signal that opened them.
    </p>
  );
}

function AttributionTable({ rows, label }: { rows: AttributionRow[]; label: string }) {
  return (
    <div className="table-wrap">
      <table className="table" data-testid="attribution-table">
        <thead>
          <tr>
            <th scope="col">{label}</th>
            <th scope="col" className="num">P&L</th>
            <th scope="col" className="num">Realized</th>
            <th scope="col" className="num">Unrealized</th>
            <th scope="col" className="num">Closed</th>
            <th scope="col" className="num">Hit rate</th>
            <th scope="col" className="num">Open</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((row) => (
            <tr key={row.key} data-testid="attribution-row">
              <td>{row.key}</td>
              <td className={`num ${row.pnl >= 0 ? "up" : "down"}`}>{formatSigned(row.pnl)}</td>
              <td className="num">{formatSigned(row.realized)}</td>
              <td className="num">{formatSigned(row.unrealized)}</td>
              <td className="num">{formatNumber(row.closed_trades, 0)}</td>
              <td className="num">{row.hit_rate === null ? "—" : formatPercent(row.hit_rate, 0)}</td>
              <td className="num">{formatNumber(row.open_positions, 0)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
