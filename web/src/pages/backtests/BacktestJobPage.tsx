/** One backtest job: its progress while it runs (polled), then its report; cancel, resume. */
import { useEffect, useState } from "react";
import { api, ApiError } from "../../api/client";
import type { BacktestJob } from "../../api/analysisTypes";
import { formatIsoTime, formatPercent } from "../../format";
import { linkProps } from "../../router";
import { useResource, useTheme, useTimeZone } from "../../ui/hooks";
import { ErrorBox, Loading } from "../../ui/states";
import type { OptimizationResult, WalkForwardResult } from "../../api/searchTypes";
import { OptimizationReport } from "../optimize/OptimizationReport";
import { WalkForwardReport } from "../optimize/WalkForwardReport";
import { BacktestReport } from "./BacktestReport";
import { isActive, StatusPill } from "./jobStatus";
import { strategyLabel } from "./strategies";

const POLL_MS = 1_000;
const TITLE = { backtest: "Backtest", optimize: "Optimization", walkforward: "Walk-forward" } as const;

export function BacktestJobPage({ jobId }: { jobId: string }) {
  const theme = useTheme();
  const timeZone = useTimeZone();
  const [active, setActive] = useState(true);
  const job = useResource<BacktestJob>(`/api/v1/backtests/${encodeURIComponent(jobId)}`, active ? POLL_MS : undefined);
  const [actionError, setActionError] = useState<ApiError | null>(null);
  const data = job.data;

  useEffect(() => {
    if (data) setActive(isActive(data.status));
  }, [data]);

  const act = async (method: "DELETE" | "POST", suffix: string) => {
    setActionError(null);
    try {
      await api<BacktestJob>(`/api/v1/backtests/${encodeURIComponent(jobId)}${suffix}`, { method });
      setActive(true);
      job.reload();
    } catch (caught) {
      setActionError(caught instanceof ApiError ? caught : new ApiError(0, "client_error", String(caught)));
    }
  };

  return (
    <section aria-labelledby="job-title" className="page">
      <header className="page-header">
        <p className="small">
          {data && data.kind !== "backtest" ? (
            <a {...linkProps("/optimize")}>← All optimizations</a>
          ) : (
            <a {...linkProps("/backtests")}>← All backtests</a>
          )}
        </p>
        <h1 id="job-title">
          {data ? `${TITLE[data.kind] ?? data.kind}: ${strategyLabel(data.strategy)}` : "Backtest"}
        </h1>
      </header>
      {job.error ? <ErrorBox error={job.error} retry={job.reload} /> : null}
      {job.loading && !data ? <Loading what="the backtest" /> : null}
      {data ? (
        <div className="panel job-status" aria-live="polite">
          <div className="toolbar">
            <StatusPill status={data.status} />
            <span className="muted small">
              started {formatIsoTime(data.started_at ?? data.created_at, timeZone)}
              {data.finished_at ? ` · finished ${formatIsoTime(data.finished_at, timeZone)}` : ""}
            </span>
            {isActive(data.status) ? (
              <button type="button" className="button-secondary" onClick={() => void act("DELETE", "")}>
                Cancel
              </button>
            ) : null}
            {data.status === "cancelled" || data.status === "interrupted" ? (
              <button type="button" className="button-secondary" onClick={() => void act("POST", "/resume")}>
                Resume
              </button>
            ) : null}
          </div>
          {isActive(data.status) ? (
            <label className="field">
              <span>
                Progress {formatPercent(data.progress, 0)}
                {data.checkpoint ? ` (${data.checkpoint.done} of ${data.checkpoint.total} ${data.checkpoint.unit})` : ""}
              </span>
              <progress data-testid="job-progress" max={1} value={data.progress} />
            </label>
          ) : null}
          {data.status === "failed" ? <ErrorBox error={new Error(data.error ?? "The backtest failed.")} /> : null}
          {actionError ? <ErrorBox error={actionError} /> : null}
        </div>
      ) : null}
      {data?.status === "succeeded" && data.result && data.kind === "backtest" ? (
        <BacktestReport job={data} result={data.result} theme={theme} timeZone={timeZone} />
      ) : null}
      {data?.status === "succeeded" && data.result && data.kind === "optimize" ? (
        <OptimizationReport
          job={data}
          result={data.result as unknown as OptimizationResult}
          theme={theme}
          timeZone={timeZone}
        />
      ) : null}
      {data?.status === "succeeded" && data.result && data.kind === "walkforward" ? (
        <WalkForwardReport job={data} result={data.result as unknown as WalkForwardResult} theme={theme} timeZone={timeZone} />
      ) : null}
    </section>
  );
}
