/** Backtests: start one, and the tenant's jobs (newest first) with their progress. */
import { navigate } from "../../router";
import { useTimeZone } from "../../ui/hooks";
import { JobsTable } from "./JobsTable";
import { NewBacktestForm } from "./NewBacktestForm";

export function BacktestsPage() {
  const timeZone = useTimeZone();
  return (
    <section aria-labelledby="backtests-title" className="page">
      <header className="page-header">
        <h1 id="backtests-title">Backtests</h1>
        <p className="muted">Run a strategy on your stored bars; jobs run in the background. Times in {timeZone}.</p>
      </header>
      <NewBacktestForm onStarted={(job) => navigate(`/backtests/${encodeURIComponent(job.id)}`)} />
      <section aria-labelledby="jobs-title" className="panel">
        <h2 id="jobs-title">Your backtests</h2>
        <JobsTable empty="No backtests yet: start one above." />
      </section>
    </section>
  );
}
