/** A backtest job's status as a pill, and whether it may still change. */
import type { JobStatus } from "../../api/analysisTypes";

export const ACTIVE: JobStatus[] = ["queued", "running"];

export function isActive(status: JobStatus): boolean {
  return ACTIVE.includes(status);
}

const TONE: Record<JobStatus, string> = {
  queued: "hold",
  running: "hold",
  succeeded: "buy",
  failed: "sell",
  cancelled: "hold",
  interrupted: "sell",
};

export function StatusPill({ status }: { status: JobStatus }) {
  return (
    <span className={`pill pill-${TONE[status]}`} data-testid="job-status" data-status={status}>
      {status}
    </span>
  );
}
