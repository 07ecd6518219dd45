/** The model card of one version: what it predicts, from what data, how well out of sample. */
import type { ModelVersion, ScoreSet } from "../../api/analysisTypes";
import { formatIsoTime, formatNumber, formatTime } from "../../format";

const SCORES: { key: string; label: string }[] = [
  { key: "accuracy", label: "Accuracy" },
  { key: "balanced_accuracy", label: "Balanced accuracy" },
  { key: "log_loss", label: "Log loss" },
  { key: "brier", label: "Brier" },
  { key: "auc", label: "AUC" },
];

function labelText(label: Record<string, unknown>): string {
  return Object.entries(label)
    .map(([key, value]) => `${key.replace(/_/g, " ")} ${String(value)}`)
    .join(", ");
}

export function ModelCard({ model, timeZone }: { model: ModelVersion; timeZone: string }) {
  const dataset = model.metrics.dataset;
  return (
    <section aria-labelledby="card-title" className="panel" data-testid="model-card">
      <h2 id="card-title">
        Model card: <code>{model.ref}</code>
      </h2>
      <dl className="facts">
        <dt>Stage</dt>
        <dd>
          <span className={`pill pill-${model.stage === "production" ? "buy" : "hold"}`}>{model.stage}</span>
          {model.promoted_at ? ` since ${formatIsoTime(model.promoted_at, timeZone)}` : ""}
        </dd>
        <dt>Owner</dt>
        <dd>{model.owner === "platform" ? "ChainFlow (platform model)" : "your team"}</dd>
        <dt>Family</dt>
        <dd>{model.family}</dd>
        <dt>Predicts</dt>
        <dd>{labelText(model.label)}</dd>
        <dt>Features</dt>
        <dd>
          <code>{model.feature_set}</code>
          {dataset?.features ? ` (${dataset.features} features)` : ""}
        </dd>
        <dt>Trained on</dt>
        <dd>
          {model.symbols.join(", ")} {model.timeframe}, {formatTime(model.train_from_ts, timeZone)} to{" "}
          {formatTime(model.train_to_ts, timeZone)}
          {dataset?.rows ? ` · ${formatNumber(dataset.rows, 0)} rows` : ""}
        </dd>
        {dataset?.class_share ? (
          <>
            <dt>Classes</dt>
            <dd>
              {Object.entries(dataset.class_share)
                .map(([name, share]) => `${name} ${formatNumber(share * 100, 1)} %`)
                .join(" · ")}
            </dd>
          </>
        ) : null}
        <dt>Artifact</dt>
        <dd>
          <code title={model.artifact_sha256}>sha256 {model.artifact_sha256.slice(0, 12)}…</code> ·{" "}
          {formatNumber(model.artifact_bytes / 1024, 1)} KiB
        </dd>
        <dt>Registered</dt>
        <dd>
          {formatIsoTime(model.created_at, timeZone)}
          {model.created_by ? ` by ${model.created_by}` : ""}
        </dd>
      </dl>
      <ScoresTable oos={model.metrics.oos} baselines={model.metrics.baselines} />
    </section>
  );
}

/** Out-of-sample scores of the model next to its training baselines. */
export function ScoresTable({ oos, baselines }: { oos?: ScoreSet | null; baselines?: Record<string, ScoreSet> | null }) {
  if (!oos) return <p className="muted small">No out-of-sample scores were stored with this model.</p>;
  const rows: [string, ScoreSet][] = [["this model", oos], ...Object.entries(baselines ?? {}).map(([n, s]): [string, ScoreSet] => [`baseline: ${n.replace(/_/g, " ")}`, s])];
  return (
    <div className="table-wrap">
      <table className="table" data-testid="scores-table">
        <caption className="muted small">Out of sample (walk-forward folds of the training data)</caption>
        <thead>
          <tr>
            <th scope="col">Predictor</th>
            {SCORES.map((s) => (
              <th scope="col" className="num" key={s.key}>
                {s.label}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {rows.map(([name, scores]) => (
            <tr key={name}>
              <th scope="row">{name}</th>
              {SCORES.map((s) => (
                <td className="num" key={s.key}>
                  {formatNumber(scores[s.key] ?? null, 3)}
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
