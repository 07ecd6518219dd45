/** Models: the registry as the tenant sees it, the served model's card, its live quality. */
import { useMemo, useState } from "react";
import type { ModelSummary, ModelVersion } from "../../api/analysisTypes";
import { useResource, useTimeZone } from "../../ui/hooks";
import { Empty, ErrorBox, Loading } from "../../ui/states";
import { LivePerformance } from "./LivePerformance";
import { ModelCard } from "./ModelCard";

const SERVED = "fx-default";

export function ModelsPage() {
  const timeZone = useTimeZone();
  const models = useResource<{ items: ModelSummary[] }>("/api/v1/models");
  const served = useMemo(() => {
    const items = models.data?.items ?? [];
    return items.find((m) => m.name === SERVED && m.production_version) ?? items.find((m) => m.production_version) ?? items[0];
  }, [models.data]);
  const [name, setName] = useState<string | null>(null);
  const selected = name ?? served?.name ?? null;

  return (
    <section aria-labelledby="models-title" className="page">
      <header className="page-header">
        <h1 id="models-title">Models</h1>
        <p className="muted">The models your signals come from: their card, out-of-sample scores, live accuracy and drift.</p>
      </header>
      {models.error ? <ErrorBox error={models.error} retry={models.reload} /> : null}
      {models.loading && !models.data ? <Loading what="the models" /> : null}
      {models.data && !models.data.items.length ? <Empty>No models are registered yet.</Empty> : null}
      {models.data?.items.length ? (
        <div className="panel">
          <label className="inline-field">
            <span>Model</span>
            <select value={selected ?? ""} onChange={(e) => setName(e.target.value)} data-testid="model-select">
              {models.data.items.map((m) => (
                <option key={`${m.owner}-${m.name}`} value={m.name}>
                  {m.name} ({m.owner === "platform" ? "platform" : "yours"}, {m.family}
                  {m.production_version ? `, v${m.production_version} in production` : ", none in production"})
                </option>
              ))}
            </select>
          </label>
        </div>
      ) : null}
      {selected ? <ModelDetail key={selected} name={selected} timeZone={timeZone} /> : null}
    </section>
  );
}

function ModelDetail({ name, timeZone }: { name: string; timeZone: string }) {
  const versions = useResource<{ items: ModelVersion[] }>(`/api/v1/models/${encodeURIComponent(name)}`);
  const items = versions.data?.items ?? [];
  const production = items.find((v) => v.stage === "production") ?? items[items.length - 1];
  const [symbol, setSymbol] = useState<string | null>(null);
  if (versions.error) return <ErrorBox error={versions.error} retry={versions.reload} />;
  if (!production) return versions.loading ? <Loading what="the model" /> : <Empty>This model has no versions.</Empty>;
  const symbols = production.symbols.length ? production.symbols : ["EURUSD"];
  const shown = symbol ?? symbols[0];
  return (
    <>
      <ModelCard model={production} timeZone={timeZone} />
      <section aria-labelledby="live-title" className="panel">
        <div className="toolbar">
          <h2 id="live-title">Live accuracy</h2>
          <label className="inline-field">
            <span>Symbol</span>
            <input
              list="model-symbols"
              value={shown}
              size={10}
              onChange={(e) => setSymbol(e.target.value.toUpperCase())}
              aria-label="Symbol of the live accuracy"
            />
            <datalist id="model-symbols">
              {symbols.map((s) => (
                <option key={s} value={s} />
              ))}
            </datalist>
          </label>
          <span className="muted small">{production.timeframe} bars</span>
        </div>
        {production.stage === "production" ? (
          /^[A-Z0-9._#-]{2,32}$/.test(shown) ? (
            <LivePerformance name={name} symbol={shown} timeframe={production.timeframe} />
          ) : (
            <p className="field-error">Type a symbol such as EURUSD.</p>
          )
        ) : (
          <Empty>Live accuracy is tracked for the production version; this model has none.</Empty>
        )}
      </section>
    </>
  );
}
