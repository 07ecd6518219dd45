/** Notifications: channels per event kind, severity, symbols, quiet hours, digest; Telegram; recent messages. */
import { useState } from "react";
import { api } from "../../api/client";
import type { NotificationItem, Preferences } from "../../api/settingsTypes";
import { formatIsoTime } from "../../format";
import { useAction, useResource, useTimeZone } from "../../ui/hooks";
import { Empty, ErrorBox, Loading } from "../../ui/states";
import { TelegramLinkPanel } from "./TelegramLink";

const CHANNELS = ["email", "telegram", "sms", "push"];
/** The kinds preferences apply to (`chainflow.notify.operator.PREFERENCE_KINDS`). */
const KINDS = [
  "circuit_breaker",
  "model_underperforming",
  "model_recovered",
  "backtest_finished",
  "binding_disabled",
  "renewal_due",
  "payment_failed",
  "subscription_expiring",
  "new_sign_in",
  "api_key_created",
  "password_changed",
  "terminal_disconnected",
  "terminal_reconnected",
];

const words = (kind: string) => kind.replace(/_/g, " ");

function PreferencesForm({ initial }: { initial: Preferences }) {
  const [prefs, setPrefs] = useState<Preferences>(initial);
  const [symbols, setSymbols] = useState(initial.symbols.join(", "));
  const [saved, setSaved] = useState(false);
  const action = useAction();
  const set = (patch: Partial<Preferences>) => {
    setSaved(false);
    setPrefs({ ...prefs, ...patch });
  };
  const channelsOf = (kind: string) => prefs.events[kind] ?? prefs.default_channels;
  const toggle = (list: string[], channel: string) =>
    list.includes(channel) ? list.filter((c) => c !== channel) : [...list, channel];
  const setKind = (kind: string, channels: string[] | null) => {
    const events = { ...prefs.events };
    if (channels === null) delete events[kind];
    else events[kind] = channels;
    set({ events });
  };

  const save = async (event: React.FormEvent) => {
    event.preventDefault();
    const body: Preferences = {
      ...prefs,
      symbols: symbols
        .split(/[\s,]+/)
        .map((s) => s.trim().toUpperCase())
        .filter(Boolean),
    };
    const stored = await action.run(() => api<Preferences>("/api/v1/notifications/preferences", { method: "PUT", body }));
    if (stored) {
      setPrefs(stored);
      setSymbols(stored.symbols.join(", "));
      setSaved(true);
    }
  };

  return (
    <form className="panel form form-wide" onSubmit={save} aria-labelledby="prefs-title" data-testid="preferences-form">
      <h2 id="prefs-title">Preferences</h2>
      <fieldset className="field">
        <legend>Channels of every kind not set below</legend>
        <div className="row">
          {CHANNELS.map((c) => (
            <label key={c} className="check">
              <input
                type="checkbox"
                checked={prefs.default_channels.includes(c)}
                onChange={() => set({ default_channels: toggle(prefs.default_channels, c) })}
              />
              {c}
            </label>
          ))}
        </div>
      </fieldset>
      <div className="table-wrap">
        <table className="table" data-testid="event-kinds-table">
          <caption className="sr-only">Channels per event kind</caption>
          <thead>
            <tr>
              <th scope="col">Event</th>
              <th scope="col">Own channels</th>
              {CHANNELS.map((c) => (
                <th key={c} scope="col">
                  {c}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {KINDS.map((kind) => {
              const own = kind in prefs.events;
              const channels = channelsOf(kind);
              return (
                <tr key={kind} data-testid="event-kind-row">
                  <th scope="row">{words(kind)}</th>
                  <td>
                    <input
                      type="checkbox"
                      aria-label={`${words(kind)}: own channels`}
                      checked={own}
                      onChange={(e) => setKind(kind, e.target.checked ? [...prefs.default_channels] : null)}
                    />
                  </td>
                  {CHANNELS.map((c) => (
                    <td key={c}>
                      <input
                        type="checkbox"
                        aria-label={`${words(kind)} by ${c}`}
                        disabled={!own}
                        checked={channels.includes(c)}
                        onChange={() => setKind(kind, toggle(channels, c))}
                      />
                    </td>
                  ))}
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
      <p className="muted small">An event with its own channels and none ticked is muted. SMS costs: it is opt-in.</p>
      <div className="form-grid">
        <label className="field">
          <span>Minimum severity</span>
          <select value={prefs.min_severity} onChange={(e) => set({ min_severity: e.target.value as Preferences["min_severity"] })}>
            <option value="info">info (everything)</option>
            <option value="warning">warning</option>
            <option value="critical">critical only</option>
          </select>
        </label>
        <label className="field">
          <span>Symbols (empty: all)</span>
          <input value={symbols} placeholder="EURUSD, GBPUSD" onChange={(e) => setSymbols(e.target.value)} />
        </label>
        <label className="check">
          <input
            type="checkbox"
            checked={prefs.quiet_hours !== null}
            onChange={(e) => set({ quiet_hours: e.target.checked ? { start: "22:00", end: "07:00" } : null })}
          />
          <span>Quiet hours (critical events still come)</span>
        </label>
        {prefs.quiet_hours ? (
          <>
            <label className="field">
              <span>Quiet from</span>
              <input
                type="time"
                required
                value={prefs.quiet_hours.start.slice(0, 5)}
                onChange={(e) => set({ quiet_hours: { ...prefs.quiet_hours!, start: e.target.value } })}
              />
            </label>
            <label className="field">
              <span>Quiet until</span>
              <input
                type="time"
                required
                value={prefs.quiet_hours.end.slice(0, 5)}
                onChange={(e) => set({ quiet_hours: { ...prefs.quiet_hours!, end: e.target.value } })}
              />
            </label>
          </>
        ) : null}
        <label className="field">
          <span>Digest</span>
          <select value={prefs.digest} onChange={(e) => set({ digest: e.target.value as Preferences["digest"] })}>
            <option value="off">off: each event at once</option>
            <option value="hourly">hourly summary</option>
            <option value="daily">daily summary</option>
          </select>
        </label>
        {prefs.digest === "daily" ? (
          <label className="field">
            <span>Daily digest at (hour)</span>
            <input type="number" min={0} max={23} step={1} value={prefs.digest_hour} onChange={(e) => set({ digest_hour: e.target.valueAsNumber })} />
          </label>
        ) : null}
        <label className="field">
          <span>Terminal offline alert after (minutes, empty: server default)</span>
          <input
            type="number"
            min={1}
            max={1440}
            step={1}
            value={prefs.terminal_offline_min ?? ""}
            onChange={(e) => set({ terminal_offline_min: e.target.value ? e.target.valueAsNumber : null })}
          />
        </label>
      </div>
      <div className="row">
        <button type="submit" disabled={action.busy}>
          {action.busy ? "Saving…" : "Save preferences"}
        </button>
        {saved ? (
          <span role="status" className="muted" data-testid="preferences-saved">
            Saved.
          </span>
        ) : null}
      </div>
      {action.error ? <ErrorBox error={action.error} /> : null}
    </form>
  );
}

function RecentNotifications() {
  const timeZone = useTimeZone();
  const items = useResource<{ items: NotificationItem[] }>("/api/v1/notifications?limit=20");
  return (
    <section aria-labelledby="recent-title" className="panel">
      <h2 id="recent-title">Recent notifications</h2>
      {items.error ? <ErrorBox error={items.error} retry={items.reload} /> : null}
      {items.loading && !items.data ? <Loading what="notifications" /> : null}
      {items.data && !items.data.items.length ? <Empty>Nothing sent yet.</Empty> : null}
      {items.data?.items.length ? (
        <div className="table-wrap">
          <table className="table" data-testid="notifications-table">
            <thead>
              <tr>
                <th scope="col">When ({timeZone})</th>
                <th scope="col">Event</th>
                <th scope="col">Channel</th>
                <th scope="col">Subject</th>
                <th scope="col">State</th>
              </tr>
            </thead>
            <tbody>
              {items.data.items.map((n) => (
                <tr key={n.id}>
                  <td className="nowrap">{formatIsoTime(n.created_at, timeZone)}</td>
                  <td>{words(n.event_type)}</td>
                  <td>{n.channel}</td>
                  <td>{n.subject}</td>
                  <td title={n.last_error ?? undefined}>{n.state}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </section>
  );
}

export function NotificationsPage() {
  const timeZone = useTimeZone();
  const prefs = useResource<Preferences>("/api/v1/notifications/preferences");
  return (
    <section aria-labelledby="notifications-title" className="page">
      <header className="page-header">
        <h1 id="notifications-title">Notifications</h1>
        <p className="muted">What you hear about, where, and when. Quiet hours and digests run in {timeZone}.</p>
      </header>
      {prefs.error ? <ErrorBox error={prefs.error} retry={prefs.reload} /> : null}
      {prefs.loading && !prefs.data ? <Loading what="your preferences" /> : null}
      {prefs.data ? <PreferencesForm initial={prefs.data} /> : null}
      <TelegramLinkPanel />
      <RecentNotifications />
    </section>
  );
}
