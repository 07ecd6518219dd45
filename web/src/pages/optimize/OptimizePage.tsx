/** Optimization and walk-forward: start one; the tenant's searches and walk-forwards. */
import { navigate } from "../../router";
import { useTimeZone } from "../../ui/hooks";
import { JobsTable } from "../backtests/JobsTable";
import { OptimizeForm } from "./OptimizeForm";

export function OptimizePage() {
  const timeZone = useTimeZone();
  return (
    <section aria-labelledby="optimize-title" className="page">
      <header className="page-header">
        <h1 id="optimize-title">Optimization</h1>
        <p className="muted">
          Search a strategy's parameters on your stored bars, or walk forward: choose on each in-sample block, trade the next.
          Times in {timeZone}.
        </p>
      </header>
      <OptimizeForm onStarted={(job) => navigate(`/backtests/${encodeURIComponent(job.id)}`)} />
      <section aria-labelledby="searches-title" className="panel">
        <h2 id="searches-title">Your optimizations and walk-forwards</h2>
        <JobsTable kinds={["optimize", "walkforward"]} empty="None yet: start one above." />
      </section>
    </section>
  );
}
