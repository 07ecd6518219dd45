/**
 * MT5 terminals. The server keeps no list of terminals a tenant can read (a terminal is an
 * API key with `ticks:write` on `WS /ws/ticks`), so this page shows those keys, when each
 * was last used, and how to connect a terminal: the WebSocket URL of this server and the
 * Expert Advisor's inputs (docs/mt5-protocol.md).
 */
import type { ApiKey } from "../../api/types";
import { formatIsoTime } from "../../format";
import { linkProps } from "../../router";
import { useResource, useTimeZone } from "../../ui/hooks";
import { Empty, ErrorBox, Loading } from "../../ui/states";

/** `ws://host/ws/ticks` (`wss://` behind HTTPS): where terminals stream ticks to. */
export function ticksUrl(): string {
  return `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws/ticks`;
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
