/** The listed trials of a search in a table sortable by any column (click or Enter on its header). */
import { useMemo, useState } from "react";
import type { OptimizationTrial } from "../../api/searchTypes";
import { formatNumber } from "../../format";

const METRIC_COLUMNS: { key: string; label: string }[] = [
  { key: "return_pct", label: "Return %" },
  { key: "sharpe", label: "Sharpe" },
  { key: "max_drawdown_pct", label: "Max DD %" },
  { key: "num_trades", label: "Trades" },
  { key: "win_rate_pct", label: "Win %" },
  { key: "profit_factor", label: "Profit factor" },
];

type Sort = { key: string; descending: boolean };

function valueOf(trial: OptimizationTrial, key: string): number | string | null {
  if (key === "score") return trial.score;
  if (key === "rank") return null;
  if (key.startsWith("param:")) {
    const v = trial.params[key.slice(6)];
    return typeof v === "boolean" ? String(v) : (v ?? null);
  }
  return trial.metrics[key] ?? null;
}

function compare(a: number | string | null, b: number | string | null): number {
  if (a === null && b === null) return 0;
  if (a === null) return 1; // empty last, whichever the direction
  if (b === null) return -1;
  if (typeof a === "number" && typeof b === "number") return a - b;
  return String(a).localeCompare(String(b));
}

export function TrialsTable({ trials, params, objective }: { trials: OptimizationTrial[]; params: string[]; objective: string }) {
  const [sort, setSort] = useState<Sort>({ key: "rank", descending: false });
  const ranked = useMemo(() => trials.map((trial, rank) => ({ trial, rank: rank + 1 })), [trials]);
  const rows = useMemo(() => {
    if (sort.key === "rank") return sort.descending ? [...ranked].reverse() : ranked;
    const sign = sort.descending ? -1 : 1;
    return [...ranked].sort((a, b) => {
      const va = valueOf(a.trial, sort.key);
      const vb = valueOf(b.trial, sort.key);
      if (va === null || vb === null) return compare(va, vb);
      return sign * compare(va, vb) || a.rank - b.rank;
    });
  }, [ranked, sort]);

  const columns = [
    { key: "rank", label: "#", num: true },
    ...params.map((p) => ({ key: `param:${p}`, label: p, num: true })),
    { key: "score", label: `Score (${objective})`, num: true },
    ...METRIC_COLUMNS.map((c) => ({ ...c, num: true })),
  ];

  const header = (key: string, text: string) => {
    const active = sort.key === key;
    const next = () => setSort({ key, descending: active ? !sort.descending : key !== "rank" && key !== "max_drawdown_pct" });
    return (
      <th
        key={key}
        scope="col"
        className="num sortable"
        aria-sort={active ? (sort.descending ? "descending" : "ascending") : "none"}
      >
        <button type="button" className="sort-button" onClick={next} data-testid={`sort-${key}`}>
          {text}
          <span aria-hidden="true">{active ? (sort.descending ? " ▼" : " ▲") : ""}</span>
        </button>
      </th>
    );
  };

  return (
    <div className="table-wrap">
      <table className="table" data-testid="trials-table">
        <caption className="sr-only">The best trials of the search; sort by a column with its header button</caption>
        <thead>
          <tr>{columns.map((c) => header(c.key, c.label))}</tr>
        </thead>
        <tbody>
          {rows.map(({ trial, rank }) => (
            <tr key={trial.index} data-testid="trial-row" className={trial.feasible ? undefined : "muted"}>
              <td className="num">{rank}</td>
              {params.map((p) => (
                <td key={p} className="num">
                  {String(trial.params[p] ?? "—")}
                </td>
              ))}
              <td className="num" title={trial.reason ?? undefined}>
                {trial.score === null ? "infeasible" : formatNumber(trial.score, 3)}
              </td>
              {METRIC_COLUMNS.map((c) => (
                <td key={c.key} className="num">
                  {formatNumber(trial.metrics[c.key] ?? null, c.key === "num_trades" ? 0 : 2)}
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
