/**
 * MT5 terminals: those connected now (`GET /api/v1/terminals`, refreshed every 5 s), the
 * API keys with `ticks:write` a terminal connects with and when each was last used, and how
 * to connect a terminal: the WebSocket URL of this server and the Expert Advisor's inputs
 * (docs/mt5-protocol.md).
 */
import type { ApiKey, LiveTerminal } from "../../api/types";
import { formatIsoTime, formatNumber, formatTime } from "../../format";
import { linkProps } from "../../router";
import { useResource, useTimeZone } from "../../ui/hooks";
import { Empty, ErrorBox, Loading } from "../../ui/states";

/** `ws://host/ws/ticks` (`wss://` behind HTTPS): where terminals stream ticks to. */
export function ticksUrl(): string {
  return `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws/ticks`;
}

const LIVE_REFRESH_MS = 5_000;

function LiveTerminals({ keys, timeZone }: { keys: ApiKey[]; timeZone: string }) {
  const live = useResource<{ items: LiveTerminal[] }>("/api/v1/terminals", LIVE_REFRESH_MS);
  const keyOf = new Map(keys.map((k) => [k.id, k]));
  const items = live.data?.items ?? [];
  return (
    <section aria-labelledby="live-terminals-title" className="panel">
      <h2 id="live-terminals-title">Connected now</h2>
      <p className="muted small">Refreshed every {LIVE_REFRESH_MS / 1000} s.</p>
      {live.error ? <ErrorBox error={live.error} retry={live.reload} /> : null}
      {live.loading && !live.data ? <Loading what="the connected terminals" /> : null}
      {live.data && !items.length ? <Empty>No terminal is connected.</Empty> : null}
      {items.length ? (
        <div className="table-wrap">
          <table className="table" data-testid="live-terminals-table">
            <thead>
              <tr>
                <th scope="col">Key</th>
                <th scope="col">Connected since ({timeZone})</th>
                <th scope="col">Symbols</th>
                <th scope="col" className="num">Ticks</th>
                <th scope="col">Connection</th>
              </tr>
            </thead>
            <tbody>
              {items.map((t) => {
                const key = keyOf.get(t.api_key_id);
                return (
                  <tr key={t.connection_id} data-testid="live-terminal-row">
                    <td>
                      {key ? (
                        <>
                          {key.name} <code>{key.prefix}…</code>
                        </>
                      ) : (
                        <code>{t.api_key_id}</code>
                      )}
                    </td>
                    <td className="nowrap">{formatTime(t.connected_at, timeZone)}</td>
                    <td>{t.symbols.length ? t.symbols.join(", ") : "— (no hello yet)"}</td>
                    <td className="num">{formatNumber(t.ticks, 0)}</td>
                    <td>
                      <code>{t.connection_id}</code>
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      ) : null}
    </section>
  );
}

export function TerminalsPage() {
  const timeZone = useTimeZone();
  const keys = useResource<{ items: ApiKey[] }>("/api/v1/api-keys");
  const terminals = (keys.data?.items ?? []).filter((k) => k.scopes.includes("ticks:write"));
  const url = ticksUrl();
  const prefix = terminals[0]?.prefix ?? "cfk_…";
  return (
    <section aria-labelledby="terminals-title" className="page">
      <header className="page-header">
        <h1 id="terminals-title">MT5 terminals</h1>
        <p className="muted">A terminal streams ticks with an API key that has the ticks:write scope, and gets signals back.</p>
      </header>
      <LiveTerminals keys={keys.data?.items ?? []} timeZone={timeZone} />
      <section aria-labelledby="terminal-keys-title" className="panel">
        <h2 id="terminal-keys-title">Terminal keys</h2>
        {keys.error ? <ErrorBox error={keys.error} retry={keys.reload} /> : null}
        {keys.loading && !keys.data ? <Loading what="your keys" /> : null}
        {keys.data && !terminals.length ? (
          <Empty>
            No key with ticks:write yet: <a {...linkProps("/api-keys")}>create one</a>.
          </Empty>
        ) : null}
        {terminals.length ? (
          <div className="table-wrap">
            <table className="table" data-testid="terminals-table">
              <thead>
                <tr>
                  <th scope="col">Key</th>
                  <th scope="col">Prefix</th>
                  <th scope="col">Created ({timeZone})</th>
                  <th scope="col">Last used</th>
                </tr>
              </thead>
              <tbody>
                {terminals.map((key) => (
                  <tr key={key.id} data-testid="terminal-row">
                    <td>{key.name}</td>
                    <td>
                      <code>{key.prefix}…</code>
                    </td>
                    <td className="nowrap">{formatIsoTime(key.created_at, timeZone)}</td>
                    <td className="nowrap">{key.last_used_at ? formatIsoTime(key.last_used_at, timeZone) : "never"}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        ) : null}
      </section>
      <section aria-labelledby="connect-title" className="panel">
        <h2 id="connect-title">Connect a terminal</h2>
        <ol className="steps">
          <li>
            In MetaTrader 5, Tools → Options → Expert Advisors: allow WebRequest for <code>{location.origin}</code>.
          </li>
          <li>
            Attach the ChainFlow Expert Advisor to a chart and set its inputs (the full key was shown once when it was
            created; its prefix is <code>{prefix}</code>):
          </li>
        </ol>
        <pre className="snippet" data-testid="terminal-snippet">
          <code>{`Url    = "${url}"\nApiKey = "${prefix}…"`}</code>
        </pre>
        <p className="muted small">
          The terminal sends <code>Authorization: Bearer &lt;key&gt;</code>, then a <code>hello</code> frame naming its
          symbols; ticks stream on the same socket and signals come back. The protocol: <code>docs/mt5-protocol.md</code>.
        </p>
        <p className="muted small">
          Notifications can tell you when a terminal stays disconnected (<a {...linkProps("/notifications")}>preferences</a>
          ).
        </p>
      </section>
    </section>
  );
}
