/** API keys for MT5 terminals and scripts: list, create (the key is shown once), revoke. */
import { useState } from "react";
import { api, ApiError } from "../api/client";
import type { ApiKey, ApiKeyCreated } from "../api/types";
import { formatIsoTime } from "../format";
import { useResource, useTimeZone } from "../ui/hooks";
import { Empty, ErrorBox, Loading } from "../ui/states";

const SCOPES: { scope: string; what: string }[] = [
  { scope: "ticks:write", what: "stream ticks from an MT5 terminal" },
  { scope: "signals:read", what: "read signals and the paper account" },
  { scope: "read", what: "read market data and the profile" },
  { scope: "trade", what: "trade" },
];

export function ApiKeysPage() {
  const timeZone = useTimeZone();
  const keys = useResource<{ items: ApiKey[] }>("/api/v1/api-keys");
  const [name, setName] = useState("MT5 terminal");
  const [scopes, setScopes] = useState<string[]>(["ticks:write"]);
  const [created, setCreated] = useState<ApiKeyCreated | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const [copied, setCopied] = useState(false);

  const toggle = (scope: string) =>
    setScopes((current) => (current.includes(scope) ? current.filter((s) => s !== scope) : [...current, scope]));

  const create = async (event: React.FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    setCopied(false);
    try {
      const key = await api<ApiKeyCreated>("/api/v1/api-keys", { method: "POST", body: { name, scopes } });
      setCreated(key);
      keys.reload();
    } catch (caught) {
      setError(caught instanceof ApiError ? caught : new ApiError(0, "client_error", String(caught)));
    } finally {
      setBusy(false);
    }
  };

  const revoke = async (key: ApiKey) => {
    if (!window.confirm(`Revoke the key “${key.name}” (${key.prefix}…)? Terminals using it stop at once.`)) return;
    try {
      await api<void>(`/api/v1/api-keys/${encodeURIComponent(key.id)}`, { method: "DELETE" });
      if (created?.id === key.id) setCreated(null);
      keys.reload();
    } catch (caught) {
      setError(caught instanceof ApiError ? caught : new ApiError(0, "client_error", String(caught)));
    }
  };

  const copy = async () => {
    if (!created) return;
    try {
      await navigator.clipboard.writeText(created.key);
      setCopied(true);
    } catch {
      setCopied(false);
    }
  };

  return (
    <section aria-labelledby="keys-title" className="page">
      <header className="page-header">
        <h1 id="keys-title">API keys</h1>
        <p className="muted">Keys for MT5 terminals and scripts. A key is shown once, when it is created.</p>
      </header>
      <form className="panel form" onSubmit={create} aria-labelledby="new-key-title">
        <h2 id="new-key-title">New key</h2>
        <label className="field">
          <span>Name</span>
          <input required maxLength={200} value={name} onChange={(event) => setName(event.target.value)} />
        </label>
        <fieldset className="field">
          <legend>Scopes</legend>
          {SCOPES.map(({ scope, what }) => (
            <label key={scope} className="check">
              <input type="checkbox" checked={scopes.includes(scope)} onChange={() => toggle(scope)} />
              <code>{scope}</code> <span className="muted">{what}</span>
            </label>
          ))}
        </fieldset>
        <button type="submit" disabled={busy || !scopes.length}>
          {busy ? "Creating…" : "Create key"}
        </button>
        {error ? <ErrorBox error={error} /> : null}
      </form>
      {created ? (
        <div className="panel created-key" role="status" aria-live="polite">
          <p>
            <strong>Copy this key now.</strong> It is stored hashed and will not be shown again.
          </p>
          <code className="secret" data-testid="new-key">
            {created.key}
          </code>
          <div className="row">
            <button type="button" className="button-secondary" onClick={copy}>
              {copied ? "Copied" : "Copy"}
            </button>
            <button type="button" className="button-secondary" onClick={() => setCreated(null)}>
              Done
            </button>
          </div>
        </div>
      ) : null}
      <section className="panel" aria-labelledby="keys-list-title">
        <h2 id="keys-list-title">Your keys</h2>
        {keys.error ? <ErrorBox error={keys.error} retry={keys.reload} /> : null}
        {keys.loading && !keys.data ? <Loading what="keys" /> : null}
        {keys.data && !keys.data.items.length ? <Empty>No keys yet.</Empty> : null}
        {keys.data?.items.length ? (
          <div className="table-wrap">
            <table className="table" data-testid="keys-table">
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Prefix</th>
                  <th scope="col">Scopes</th>
                  <th scope="col">Created ({timeZone})</th>
                  <th scope="col">Last used</th>
                  <th scope="col">
                    <span className="sr-only">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {keys.data.items.map((key) => (
                  <tr key={key.id} data-testid="key-row">
                    <td>{key.name}</td>
                    <td>
                      <code>{key.prefix}…</code>
                    </td>
                    <td>{key.scopes.join(", ")}</td>
                    <td className="nowrap">{formatIsoTime(key.created_at, timeZone)}</td>
                    <td className="nowrap">{key.last_used_at ? formatIsoTime(key.last_used_at, timeZone) : "never"}</td>
                    <td>
                      <button type="button" className="button-danger" onClick={() => void revoke(key)}>
                        Revoke
                      </button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        ) : null}
      </section>
    </section>
  );
}
