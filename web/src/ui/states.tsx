/** Loading, error and empty states, and the stream's offline banner. */
import { useEffect, useState, useSyncExternalStore } from "react";
import type { ApiError } from "../api/request";
import { stream } from "../live/stream";

export function Loading({ what }: { what: string }) {
  return (
    <div className="state state-loading" role="status" aria-live="polite">
      <span className="spinner" aria-hidden="true" /> Loading {what}…
    </div>
  );
}

export function ErrorBox({ error, retry }: { error: ApiError | Error; retry?: () => void }) {
  const code = "code" in error ? ` (${error.code})` : "";
  return (
    <div className="state state-error" role="alert">
      <span>
        {error.message}
        <span className="muted">{code}</span>
      </span>
      {retry ? (
        <button type="button" className="button-secondary" onClick={retry}>
          Retry
        </button>
      ) : null}
    </div>
  );
}

export function Empty({ children }: { children: React.ReactNode }) {
  return <div className="state state-empty">{children}</div>;
}

/** "Offline — reconnecting in 3 s" while `WS /ws/stream` is down (after it was started). */
export function OfflineBanner() {
  const state = useSyncExternalStore(stream.subscribeState, stream.snapshot);
  const [, setTicks] = useState(0);
  // Offline from the first failure until a connection opens again (reconnects included).
  const down = state.status === "offline" || (state.status === "connecting" && state.attempts > 0);
  useEffect(() => {
    if (!down) return;
    const timer = window.setInterval(() => setTicks((n) => n + 1), 500);
    return () => window.clearInterval(timer);
  }, [down]);
  if (!down) return null;
  const seconds = state.retryAt ? Math.max(0, Math.ceil((state.retryAt - Date.now()) / 1000)) : 0;
  return (
    <div className="offline-banner" role="status" aria-live="assertive" data-testid="offline-banner">
      <strong>Offline</strong> — the live feed is disconnected;{" "}
      {seconds > 0 ? `reconnecting in ${seconds} s` : "reconnecting…"} (attempt {state.attempts})
    </div>
  );
}

export function StreamBadge() {
  const state = useSyncExternalStore(stream.subscribeState, stream.snapshot);
  const label = state.status === "open" ? "live" : state.status === "offline" ? "offline" : "connecting";
  return (
    <span className={`badge badge-${label}`} data-testid="stream-status" data-status={state.status}>
      <span className="dot" aria-hidden="true" />
      {label}
    </span>
  );
}
