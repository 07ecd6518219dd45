/** Telegram: whether the caller's chat is linked; a one-time deep link to link it. */
import { useState } from "react";
import { api } from "../../api/client";
import type { TelegramBinding, TelegramLink as Link } from "../../api/settingsTypes";
import { formatIsoTime } from "../../format";
import { useAction, useResource, useTimeZone } from "../../ui/hooks";
import { ErrorBox, Loading } from "../../ui/states";

const POLL_MS = 5_000;

export function TelegramLinkPanel() {
  const timeZone = useTimeZone();
  const [link, setLink] = useState<Link | null>(null);
  // While a link is out, poll: the state turns "linked" once the user pressed Start in Telegram.
  const binding = useResource<TelegramBinding>("/api/v1/notifications/telegram/link", link ? POLL_MS : undefined);
  const action = useAction();
  const missing = binding.error?.status === 404;

  const issue = async () => {
    const issued = await action.run(() => api<Link>("/api/v1/notifications/telegram/link", { method: "POST" }));
    if (issued) setLink(issued);
  };

  return (
    <section aria-labelledby="telegram-title" className="panel" data-testid="telegram-panel">
      <h2 id="telegram-title">Telegram</h2>
      {binding.loading && !binding.data && !binding.error ? <Loading what="the Telegram link" /> : null}
      {missing ? (
        <p className="muted" data-testid="telegram-state" data-state="unavailable">
          Telegram is not set up on this server (the bot needs <code>CHAINFLOW_NOTIFY_TELEGRAM_BOT_TOKEN</code> and{" "}
          <code>CHAINFLOW_NOTIFY_TELEGRAM_BOT_USERNAME</code>).
        </p>
      ) : null}
      {binding.error && !missing ? <ErrorBox error={binding.error} retry={binding.reload} /> : null}
      {binding.data ? (
        <p className="status-line" data-testid="telegram-state" data-state={binding.data.linked ? "linked" : "unlinked"}>
          <span className={`pill pill-${binding.data.linked && binding.data.enabled ? "buy" : "hold"}`}>
            {binding.data.linked ? (binding.data.enabled ? "linked" : "linked, disabled") : "not linked"}
          </span>
          {binding.data.muted_until ? (
            <span className="muted small">muted until {formatIsoTime(binding.data.muted_until, timeZone)}</span>
          ) : null}
        </p>
      ) : null}
      {binding.data && !binding.data.linked ? (
        <>
          <p className="muted small">
            Open the link in Telegram and press Start: the bot links the chat to you, then sends your alerts and answers
            /status, /positions and /mute.
          </p>
          <div className="row">
            <button type="button" onClick={() => void issue()} disabled={action.busy}>
              {link ? "New link" : "Link Telegram"}
            </button>
          </div>
        </>
      ) : null}
      {link && !binding.data?.linked ? (
        <p data-testid="telegram-link">
          <a href={link.url} target="_blank" rel="noopener noreferrer">
            {link.url}
          </a>{" "}
          <span className="muted small">(once, until {formatIsoTime(link.expires_at, timeZone)})</span>
        </p>
      ) : null}
      {action.error ? <ErrorBox error={action.error} /> : null}
    </section>
  );
}
