/**
 * The pages links in e-mails open (`/verify-email?token=…`, `/reset-password?token=…`; the
 * gateway redirects those paths to `/app/…`), signed in or not. The token is taken out of
 * the address bar at once so that it stays out of the history and of later referrers.
 */
import { useEffect, useRef, useState } from "react";
import { ApiError, request } from "../api/request";
import { session } from "../api/session";
import { BASE, navigate } from "../router";
import { ErrorBox, Loading } from "../ui/states";

let taken: { path: string; token: string } | null = null;

/** The link's token, read once per page (React may run a state initializer twice). */
function takeToken(): string {
  const token = new URLSearchParams(location.search).get("token");
  if (token) {
    history.replaceState(null, "", location.pathname);
    taken = { path: location.pathname, token };
    return token;
  }
  return taken?.path === location.pathname ? taken.token : "";
}

function asApiError(caught: unknown): ApiError {
  return caught instanceof ApiError ? caught : new ApiError(0, "client_error", String(caught));
}

function SignInLink({ label = "Go to sign in" }: { label?: string }) {
  return (
    <a
      href={`${BASE}/login`}
      onClick={(event) => {
        event.preventDefault();
        navigate(session.state.status === "signed-in" ? "/market" : "/login");
      }}
    >
      {label}
    </a>
  );
}

export function VerifyEmailPage() {
  const [token] = useState(takeToken);
  const [state, setState] = useState<"verifying" | "verified" | "failed">(token ? "verifying" : "failed");
  const [error, setError] = useState<ApiError | null>(
    token ? null : new ApiError(400, "missing_token", "This link has no verification token: open the link from the e-mail."),
  );
  const sent = useRef(false);

  useEffect(() => {
    if (!token || sent.current) return; // a token works once: send it once
    sent.current = true;
    document.title = "Confirm e-mail · ChainFlow";
    request("/api/v1/auth/verify", { method: "POST", body: { token } })
      .then(() => setState("verified"))
      .catch((caught: unknown) => {
        setError(asApiError(caught));
        setState("failed");
      });
  }, [token]);

  return (
    <main id="main" className="auth">
      <section className="panel form auth-form" aria-labelledby="verify-title" data-testid="verify-page">
        <h1 id="verify-title">Confirm your e-mail</h1>
        {state === "verifying" ? <Loading what="your confirmation" /> : null}
        {state === "verified" ? (
          <p className="state state-info" role="status">
            Your e-mail address is confirmed. You can sign in now.
          </p>
        ) : null}
        {state === "failed" && error ? <ErrorBox error={error} /> : null}
        <p>
          <SignInLink />
        </p>
      </section>
    </main>
  );
}

export function ResetPasswordPage() {
  const [token] = useState(takeToken);
  useEffect(() => {
    document.title = "Reset password · ChainFlow";
  }, []);
  return (
    <main id="main" className="auth">
      {token ? <NewPasswordForm token={token} /> : <ResetRequestForm />}
    </main>
  );
}

function ResetRequestForm() {
  const [email, setEmail] = useState("");
  const [busy, setBusy] = useState(false);
  const [sent, setSent] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);

  const submit = async (event: React.FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await request("/api/v1/auth/password-reset", { method: "POST", body: { email } });
      setSent(true);
    } catch (caught) {
      setError(asApiError(caught));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="panel form auth-form" onSubmit={submit} aria-labelledby="reset-title" data-testid="reset-request">
      <h1 id="reset-title">Reset your password</h1>
      {sent ? (
        <p className="state state-info" role="status">
          If an account has this address, an e-mail with a reset link is on its way.
        </p>
      ) : (
        <p className="muted small">We send a link to choose a new password to your e-mail address.</p>
      )}
      <label className="field">
        <span>E-mail</span>
        <input name="email" type="email" required autoComplete="email" value={email} onChange={(e) => setEmail(e.target.value)} />
      </label>
      <button type="submit" disabled={busy}>
        {busy ? "Please wait…" : "Send the link"}
      </button>
      {error ? <ErrorBox error={error} /> : null}
      <p className="muted small">
        <SignInLink label="Back to sign in" />
      </p>
    </form>
  );
}

function NewPasswordForm({ token }: { token: string }) {
  const [password, setPassword] = useState("");
  const [repeat, setRepeat] = useState("");
  const [busy, setBusy] = useState(false);
  const [done, setDone] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const mismatch = repeat.length > 0 && repeat !== password;

  const submit = async (event: React.FormEvent) => {
    event.preventDefault();
    if (mismatch) return;
    setBusy(true);
    setError(null);
    try {
      await request("/api/v1/auth/password-reset/confirm", { method: "POST", body: { token, password } });
      setDone(true);
      // The server signed out every session, this browser's too.
      if (session.state.status === "signed-in") await session.logout();
    } catch (caught) {
      setError(asApiError(caught));
    } finally {
      setBusy(false);
    }
  };

  if (done) {
    return (
      <section className="panel form auth-form" aria-labelledby="reset-title" data-testid="reset-done">
        <h1 id="reset-title">Password changed</h1>
        <p className="state state-info" role="status">
          Your new password is set and every session was signed out.
        </p>
        <p>
          <SignInLink label="Sign in with the new password" />
        </p>
      </section>
    );
  }
  return (
    <form className="panel form auth-form" onSubmit={submit} aria-labelledby="reset-title" data-testid="reset-confirm">
      <h1 id="reset-title">Choose a new password</h1>
      <label className="field">
        <span>New password</span>
        <input
          name="password"
          type="password"
          required
          minLength={10}
          autoComplete="new-password"
          value={password}
          onChange={(e) => setPassword(e.target.value)}
        />
      </label>
      <label className="field">
        <span>Repeat the new password</span>
        <input
          name="repeat"
          type="password"
          required
          autoComplete="new-password"
          aria-invalid={mismatch}
          aria-describedby={mismatch ? "repeat-error" : undefined}
          value={repeat}
          onChange={(e) => setRepeat(e.target.value)}
        />
        {mismatch ? (
          <span id="repeat-error" className="field-error">
            The two passwords differ.
          </span>
        ) : null}
      </label>
      <button type="submit" disabled={busy || mismatch}>
        {busy ? "Please wait…" : "Set the new password"}
      </button>
      {error ? <ErrorBox error={error} /> : null}
      <p className="muted small">
        <SignInLink label="Back to sign in" />
      </p>
    </form>
  );
}
