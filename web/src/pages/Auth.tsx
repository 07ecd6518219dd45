/** Sign in and register (e-mail and password); registration signs in when no verification is due. */
import { useState } from "react";
import { ApiError } from "../api/request";
import { session } from "../api/session";
import { BASE, navigate } from "../router";
import { ErrorBox } from "../ui/states";

export function AuthPage({ mode, notice }: { mode: "login" | "register"; notice: string | null }) {
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [name, setName] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const [info, setInfo] = useState<string | null>(null);
  const registering = mode === "register";

  const submit = async (event: React.FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    setInfo(null);
    try {
      if (registering) {
        const registered = await session.register(email, password, name || undefined);
        if (registered.verification_required) {
          setInfo("Check your e-mail for the verification link, then sign in.");
          navigate("/login", true);
          return;
        }
      }
      await session.login(email, password);
      navigate("/market", true);
    } catch (caught) {
      setError(caught instanceof ApiError ? caught : new ApiError(0, "client_error", String(caught)));
    } finally {
      setBusy(false);
    }
  };

  return (
    <main id="main" className="auth">
      <form className="panel form auth-form" onSubmit={submit} aria-labelledby="auth-title">
        <h1 id="auth-title">{registering ? "Create your account" : "Sign in to ChainFlow"}</h1>
        {notice && !registering ? (
          <p className="state state-info" role="status">
            {notice}
          </p>
        ) : null}
        {info ? (
          <p className="state state-info" role="status">
            {info}
          </p>
        ) : null}
        {registering ? (
          <label className="field">
            <span>Name (optional)</span>
            <input name="name" autoComplete="name" maxLength={400} value={name} onChange={(e) => setName(e.target.value)} />
          </label>
        ) : null}
        <label className="field">
          <span>E-mail</span>
          <input
            name="email"
            type="email"
            required
            autoComplete="email"
            value={email}
            onChange={(e) => setEmail(e.target.value)}
          />
        </label>
        <label className="field">
          <span>Password</span>
          <input
            name="password"
            type="password"
            required
            minLength={registering ? 10 : 1}
            autoComplete={registering ? "new-password" : "current-password"}
            value={password}
            onChange={(e) => setPassword(e.target.value)}
          />
        </label>
        <button type="submit" disabled={busy}>
          {busy ? "Please wait…" : registering ? "Register" : "Sign in"}
        </button>
        {error ? <ErrorBox error={error} /> : null}
        {registering ? null : (
          <p className="muted small">
            <a
              href={`${BASE}/reset-password`}
              onClick={(event) => {
                event.preventDefault();
                navigate("/reset-password");
              }}
            >
              Forgot your password?
            </a>
          </p>
        )}
        <p className="muted small">
          {registering ? "Already have an account? " : "New to ChainFlow? "}
          <a
            href={BASE + (registering ? "/login" : "/register")}
            onClick={(event) => {
              event.preventDefault();
              setError(null);
              navigate(registering ? "/login" : "/register");
            }}
          >
            {registering ? "Sign in" : "Create an account"}
          </a>
        </p>
      </form>
    </main>
  );
}
