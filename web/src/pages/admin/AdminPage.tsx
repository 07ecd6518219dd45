/** For platform superadmins: the business overview (MRR, tenants, usage per tier) and the tenants. */
import { useState } from "react";
import { api } from "../../api/client";
import type { BiOverview, TenantsPage, TenantSummary } from "../../api/settingsTypes";
import { formatIsoTime, formatNumber, formatPercent, formatTime } from "../../format";
import { useAction, useProfile, useResource, useTimeZone } from "../../ui/hooks";
import { Empty, ErrorBox, Loading } from "../../ui/states";
import { formatRupiah } from "../settings/BillingPage";

function Overview() {
  const timeZone = useTimeZone();
  const bi = useResource<BiOverview>("/api/v1/admin/analytics/overview");
  const data = bi.data;
  const months = data?.months.slice(-6) ?? [];
  return (
    <section aria-labelledby="bi-title" className="panel" data-testid="bi-overview">
      <h2 id="bi-title">Business overview</h2>
      {bi.error ? <ErrorBox error={bi.error} retry={bi.reload} /> : null}
      {bi.loading && !data ? <Loading what="the overview" /> : null}
      {data ? (
        <>
          <p className="muted small">As of {formatTime(data.as_of, timeZone)}.</p>
          <dl className="cards" data-testid="bi-cards">
            <div className="card">
              <dt>Tenants</dt>
              <dd>{formatNumber(data.tenants, 0)}</dd>
            </div>
            <div className="card">
              <dt>MRR</dt>
              <dd>{formatRupiah(data.mrr.mrr_idr)}</dd>
            </div>
            <div className="card">
              <dt>ARR</dt>
              <dd>{formatRupiah(data.mrr.arr_idr)}</dd>
            </div>
            <div className="card">
              <dt>Active terminals</dt>
              <dd>{formatNumber(data.active_terminals, 0)}</dd>
            </div>
            <div className="card">
              <dt>Free → paid</dt>
              <dd>{data.conversion.free_to_paid_rate === null ? "—" : formatPercent(data.conversion.free_to_paid_rate, 1)}</dd>
            </div>
          </dl>
          <h3>Months</h3>
          <div className="table-wrap">
            <table className="table" data-testid="bi-months">
              <thead>
                <tr>
                  <th scope="col">Month</th>
                  <th scope="col" className="num">Signups</th>
                  <th scope="col" className="num">Active</th>
                  <th scope="col" className="num">Churned</th>
                  <th scope="col" className="num">Paying</th>
                  <th scope="col" className="num">MRR</th>
                </tr>
              </thead>
              <tbody>
                {months.map((m) => (
                  <tr key={m.month}>
                    <td>{m.month}</td>
                    <td className="num">{formatNumber(m.signups, 0)}</td>
                    <td className="num">{formatNumber(m.activity.active, 0)}</td>
                    <td className="num">{formatNumber(m.activity.churned, 0)}</td>
                    <td className="num">{formatNumber(m.paying.active, 0)}</td>
                    <td className="num">{formatRupiah(m.mrr_idr)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <h3>Usage per tier ({data.usage.month})</h3>
          <div className="table-wrap">
            <table className="table" data-testid="bi-usage">
              <thead>
                <tr>
                  <th scope="col">Tier</th>
                  <th scope="col" className="num">Tenants</th>
                  <th scope="col" className="num">Active</th>
                  <th scope="col" className="num">Ticks</th>
                  <th scope="col" className="num">API calls</th>
                  <th scope="col" className="num">Terminals</th>
                </tr>
              </thead>
              <tbody>
                {data.usage.items.map((u) => (
                  <tr key={u.tier}>
                    <td>{u.tier}</td>
                    <td className="num">{formatNumber(u.tenants, 0)}</td>
                    <td className="num">{formatNumber(u.active_tenants, 0)}</td>
                    <td className="num">{formatNumber(u.ticks, 0)}</td>
                    <td className="num">{formatNumber(u.api_calls, 0)}</td>
                    <td className="num">{formatNumber(u.terminals, 0)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </>
      ) : null}
    </section>
  );
}

function TenantLookup() {
  const [id, setId] = useState("");
  const [tenant, setTenant] = useState<TenantSummary | null>(null);
  const action = useAction();
  const look = async (event: React.FormEvent) => {
    event.preventDefault();
    setTenant((await action.run(() => api<TenantSummary>(`/api/v1/admin/tenants/${encodeURIComponent(id.trim())}`))) ?? null);
  };
  return (
    <form className="form" onSubmit={look} aria-label="Look up a tenant">
      <label className="field">
        <span>Tenant ID</span>
        <input required value={id} onChange={(e) => setId(e.target.value)} />
      </label>
      <div className="row">
        <button type="submit" className="button-secondary" disabled={action.busy}>
          Look up
        </button>
      </div>
      {action.error ? <ErrorBox error={action.error} /> : null}
      {tenant ? (
        <dl className="facts" data-testid="tenant-summary">
          <dt>Name</dt>
          <dd>{tenant.name}</dd>
          <dt>Tier</dt>
          <dd>{tenant.tier}</dd>
          <dt>Overrides</dt>
          <dd>
            <code>{JSON.stringify(tenant.limit_overrides)}</code>
          </dd>
        </dl>
      ) : null}
    </form>
  );
}

const TENANTS_PAGE = 50;

function Tenants() {
  const timeZone = useTimeZone();
  const [offset, setOffset] = useState(0);
  const page = useResource<TenantsPage>(`/api/v1/admin/tenants?limit=${TENANTS_PAGE}&offset=${offset}`);
  const items = page.data?.items ?? [];
  const next = page.data?.next_offset ?? null;
  return (
    <section aria-labelledby="tenants-title" className="panel">
      <h2 id="tenants-title">Tenants</h2>
      {page.error ? <ErrorBox error={page.error} retry={page.reload} /> : null}
      {page.loading && !page.data ? <Loading what="tenants" /> : null}
      {page.data && !items.length ? <Empty>No tenant on this page.</Empty> : null}
      {items.length ? (
        <div className="table-wrap">
          <table className="table" data-testid="tenants-table">
            <thead>
              <tr>
                <th scope="col">Tenant</th>
                <th scope="col">Tier</th>
                <th scope="col" className="num">Users</th>
                <th scope="col">Subscription</th>
                <th scope="col">Created ({timeZone})</th>
                <th scope="col">ID</th>
              </tr>
            </thead>
            <tbody>
              {items.map((t) => (
                <tr key={t.tenant_id} data-testid="tenant-row">
                  <td>{t.name}</td>
                  <td>{t.tier}</td>
                  <td className="num">{formatNumber(t.user_count, 0)}</td>
                  <td>{t.subscription_status ? `${t.subscription_plan} (${t.subscription_status})` : "none"}</td>
                  <td className="nowrap">{formatIsoTime(t.created_at, timeZone)}</td>
                  <td>
                    <code>{t.tenant_id}</code>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      <div className="row">
        <button
          type="button"
          className="button-secondary"
          disabled={offset === 0}
          onClick={() => setOffset(Math.max(0, offset - TENANTS_PAGE))}
        >
          Previous
        </button>
        <button type="button" className="button-secondary" disabled={next === null} onClick={() => next !== null && setOffset(next)}>
          Next
        </button>
      </div>
      <h3>Any tenant</h3>
      <TenantLookup />
    </section>
  );
}

export function AdminPage() {
  const profile = useProfile();
  if (!profile?.is_superadmin) {
    return (
      <section className="page">
        <h1>Not available</h1>
        <p className="muted">The admin pages are for platform superadmins.</p>
      </section>
    );
  }
  return (
    <section aria-labelledby="admin-title" className="page">
      <header className="page-header">
        <h1 id="admin-title">Admin</h1>
        <p className="muted">The platform: business figures and tenants. Superadmins only.</p>
      </header>
      <Overview />
      <Tenants />
    </section>
  );
}
