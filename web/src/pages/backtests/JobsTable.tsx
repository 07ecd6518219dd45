/** The tenant's jobs (newest first) with their progress, optionally of some kinds only. */
import type { BacktestJob } from "../../api/analysisTypes";
import { formatIsoTime, formatPercent } from "../../format";
import { linkProps } from "../../router";
import { useResource, useTimeZone } from "../../ui/hooks";
import { Empty, ErrorBox, Loading } from "../../ui/states";
import { isActive, StatusPill } from "./jobStatus";
import { strategyLabel } from "./strategies";

const REFRESH_MS = 3_000;
const KIND_LABEL: Record<BacktestJob["kind"], string> = {
  backtest: "backtest",
  optimize: "optimization",
  walkforward: "walk-forward",
};

export function JobsTable({ kinds, empty }: { kinds?: BacktestJob["kind"][]; empty: string }) {
  const timeZone = useTimeZone();
  const jobs = useResource<{ items: BacktestJob[] }>("/api/v1/backtests?limit=100", REFRESH_MS);
  const items = (jobs.data?.items ?? []).filter((job) => !kinds || kinds.includes(job.kind));
  return (
    <>
      {jobs.error ? <ErrorBox error={jobs.error} retry={jobs.reload} /> : null}
      {jobs.loading && !jobs.data ? <Loading what="your jobs" /> : null}
      {jobs.data && !items.length ? <Empty>{empty}</Empty> : null}
      {items.length ? (
        <div className="table-wrap">
          <table className="table" data-testid="jobs-table">
            <thead>
              <tr>
                <th scope="col">Started ({timeZone})</th>
                <th scope="col">Kind</th>
                <th scope="col">Strategy</th>
                <th scope="col">Symbol</th>
                <th scope="col">Status</th>
                <th scope="col" className="num">Progress</th>
                <th scope="col">Report</th>
              </tr>
            </thead>
            <tbody>
              {items.map((job) => (
                <tr key={job.id} data-testid="job-row">
                  <td className="nowrap">{formatIsoTime(job.created_at, timeZone)}</td>
                  <td>{KIND_LABEL[job.kind] ?? job.kind}</td>
                  <td>{strategyLabel(job.strategy)}</td>
                  <td>
                    {job.symbol} {job.timeframe}
                  </td>
                  <td>
                    <StatusPill status={job.status} />
                  </td>
                  <td className="num">{isActive(job.status) ? formatPercent(job.progress, 0) : "—"}</td>
                  <td>
                    <a {...linkProps(`/backtests/${encodeURIComponent(job.id)}`)}>
                      {job.status === "succeeded" ? "Open report" : "Details"}
                      <span className="sr-only">
                        {" "}
                        of {job.strategy} on {job.symbol}
                      </span>
                    </a>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </>
  );
}
