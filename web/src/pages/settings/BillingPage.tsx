/** Billing: the current subscription, plans with checkout (Midtrans Snap's payment page), invoices with their PDFs. */
import { api } from "../../api/client";
import { downloadFile } from "../../api/download";
import type { Checkout, Invoice, Plans, Subscription } from "../../api/settingsTypes";
import { formatIsoTime } from "../../format";
import { useAction, useProfile, useResource, useTimeZone } from "../../ui/hooks";
import { Empty, ErrorBox, Loading } from "../../ui/states";

const RUPIAH = new Intl.NumberFormat("id-ID", { style: "currency", currency: "IDR", maximumFractionDigits: 0 });

export function formatRupiah(value: number): string {
  return RUPIAH.format(value);
}

function SubscriptionPanel() {
  const timeZone = useTimeZone();
  const profile = useProfile();
  const sub = useResource<Subscription>("/api/v1/billing/subscription");
  const none = sub.error?.status === 404;
  return (
    <section aria-labelledby="subscription-title" className="panel" data-testid="subscription">
      <h2 id="subscription-title">Your plan</h2>
      {sub.loading && !sub.data && !sub.error ? <Loading what="your subscription" /> : null}
      {sub.error && !none ? <ErrorBox error={sub.error} retry={sub.reload} /> : null}
      {none || (sub.data && !sub.data.plan) ? (
        <p data-testid="subscription-state">
          No paid subscription: the <strong>{profile?.tier ?? "free"}</strong> tier.
        </p>
      ) : null}
      {sub.data?.plan ? (
        <dl className="facts" data-testid="subscription-state">
          <dt>Plan</dt>
          <dd>
            {sub.data.plan} ({sub.data.period}), {sub.data.status}
          </dd>
          <dt>Current period</dt>
          <dd>
            {formatIsoTime(sub.data.current_period_start, timeZone)} – {formatIsoTime(sub.data.current_period_end, timeZone)}
          </dd>
          {sub.data.cancel_at_period_end ? (
            <>
              <dt>Ends</dt>
              <dd>at the period end (cancelled)</dd>
            </>
          ) : null}
          {sub.data.scheduled_plan ? (
            <>
              <dt>Next</dt>
              <dd>
                {sub.data.scheduled_plan} ({sub.data.scheduled_period}) from the period end
              </dd>
            </>
          ) : null}
          <dt>Renewal</dt>
          <dd>{sub.data.auto_renew ? "automatic (saved card)" : "by invoice before the period ends"}</dd>
        </dl>
      ) : null}
    </section>
  );
}

function PlansPanel() {
  const plans = useResource<Plans>("/api/v1/billing/plans");
  const action = useAction();
  const checkout = async (plan: string, period: string) => {
    const made = await action.run(() => api<Checkout>("/api/v1/billing/checkout", { method: "POST", body: { plan, period } }));
    // Midtrans Snap's hosted payment page; it sends the payer back to the app when done.
    if (made) window.location.assign(made.redirect_url);
  };
  return (
    <section aria-labelledby="plans-title" className="panel">
      <h2 id="plans-title">Plans</h2>
      {plans.error ? <ErrorBox error={plans.error} retry={plans.reload} /> : null}
      {plans.loading && !plans.data ? <Loading what="plans" /> : null}
      {plans.data ? (
        <>
          <div className="plans" data-testid="plans">
            {plans.data.items.map((plan) => (
              <article className="card plan" key={plan.plan} data-testid="plan">
                <h3>{plan.name}</h3>
                <p className="muted small">{plan.tier} tier</p>
                {Object.entries(plan.prices).map(([period, price]) => (
                  <div className="row" key={period}>
                    <span>
                      {formatRupiah(price.idr)} / {period} <span className="muted small">({price.usd_display})</span>
                    </span>
                    <button
                      type="button"
                      className="button-secondary"
                      disabled={action.busy}
                      onClick={() => void checkout(plan.plan, period)}
                    >
                      Pay<span className="sr-only"> for {plan.name}, {period}</span>
                    </button>
                  </div>
                ))}
              </article>
            ))}
          </div>
          <p className="muted small">
            Prices in rupiah, PPN {plans.data.ppn_rate_percent} % included on the invoice. Paying opens Midtrans' payment page.
          </p>
        </>
      ) : null}
      {action.error ? <ErrorBox error={action.error} /> : null}
    </section>
  );
}

function InvoicesPanel() {
  const timeZone = useTimeZone();
  const invoices = useResource<{ items: Invoice[] }>("/api/v1/billing/invoices");
  const action = useAction();
  return (
    <section aria-labelledby="invoices-title" className="panel">
      <h2 id="invoices-title">Invoices</h2>
      {invoices.error ? <ErrorBox error={invoices.error} retry={invoices.reload} /> : null}
      {invoices.loading && !invoices.data ? <Loading what="invoices" /> : null}
      {invoices.data && !invoices.data.items.length ? <Empty>No invoices yet.</Empty> : null}
      {invoices.data?.items.length ? (
        <div className="table-wrap">
          <table className="table" data-testid="invoices-table">
            <thead>
              <tr>
                <th scope="col">Number</th>
                <th scope="col">Issued ({timeZone})</th>
                <th scope="col">Plan</th>
                <th scope="col" className="num">Total</th>
                <th scope="col">PDF</th>
              </tr>
            </thead>
            <tbody>
              {invoices.data.items.map((inv) => (
                <tr key={inv.id} data-testid="invoice-row">
                  <td>{inv.invoice_number}</td>
                  <td className="nowrap">{formatIsoTime(inv.issued_at, timeZone)}</td>
                  <td>
                    {inv.plan} ({inv.period})
                  </td>
                  <td className="num">{formatRupiah(inv.total_idr)}</td>
                  <td>
                    <button
                      type="button"
                      className="button-secondary"
                      disabled={action.busy}
                      onClick={() =>
                        void action.run(() =>
                          downloadFile(`/api/v1/billing/invoices/${encodeURIComponent(inv.id)}.pdf`, `${inv.invoice_number}.pdf`),
                        )
                      }
                    >
                      Download<span className="sr-only"> invoice {inv.invoice_number}</span>
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      {action.error ? <ErrorBox error={action.error} /> : null}
    </section>
  );
}

export function BillingPage() {
  return (
    <section aria-labelledby="billing-title" className="page">
      <header className="page-header">
        <h1 id="billing-title">Billing</h1>
        <p className="muted">Your plan, payments through Midtrans, and invoices.</p>
      </header>
      <SubscriptionPanel />
      <PlansPanel />
      <InvoicesPanel />
    </section>
  );
}
