/** The shell: session gate, navigation, theme toggle, the live stream and the pages. */
import { useEffect, useSyncExternalStore } from "react";
import { session } from "./api/session";
import type { Profile } from "./api/types";
import { safeTimeZone, zoneAbbreviation } from "./format";
import { stream } from "./live/stream";
import { ApiKeysPage } from "./pages/ApiKeys";
import { AuthPage } from "./pages/Auth";
import { MarketPage } from "./pages/Market";
import { PaperPage } from "./pages/Paper";
import { linkProps, navigate, useRoute } from "./router";
import { applyTheme, ProfileContext, useResource, useTheme } from "./ui/hooks";
import { ErrorBox, Loading, OfflineBanner, StreamBadge } from "./ui/states";

const PAGES: { route: string; label: string; render: () => React.ReactNode }[] = [
  { route: "/market", label: "Market", render: () => <MarketPage /> },
  { route: "/paper", label: "Paper account", render: () => <PaperPage /> },
  { route: "/api-keys", label: "API keys", render: () => <ApiKeysPage /> },
];

export function App() {
  const state = useSyncExternalStore(session.subscribe, session.snapshot);
  const route = useRoute();

  useEffect(() => {
    void session.restore();
  }, []);

  if (state.status === "restoring") {
    return (
      <main id="main" className="auth">
        <Loading what="your session" />
      </main>
    );
  }
  if (state.status === "signed-out") {
    if (route !== "/login" && route !== "/register") {
      queueMicrotask(() => navigate("/login", true));
    }
    return <AuthPage key={route} mode={route === "/register" ? "register" : "login"} notice={state.notice} />;
  }
  return <Shell route={route} />;
}

function Shell({ route }: { route: string }) {
  const theme = useTheme();
  const profile = useResource<Profile>("/api/v1/users/me");
  const zone = safeTimeZone(profile.data?.timezone);
  const page = PAGES.find((p) => p.route === route);

  useEffect(() => {
    stream.start();
    return () => stream.stop();
  }, []);

  useEffect(() => {
    if (route === "/" || route === "/login" || route === "/register") navigate("/market", true);
  }, [route]);

  useEffect(() => {
    document.title = page ? `${page.label} · ChainFlow` : "ChainFlow";
  }, [page]);

  return (
    <ProfileContext.Provider value={profile.data ? { ...profile.data, timezone: zone } : null}>
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <a className="brand" {...linkProps("/market")}>
          ChainFlow
        </a>
        <nav aria-label="Main" className="nav">
          <ul>
            {PAGES.map((p) => (
              <li key={p.route}>
                <a {...linkProps(p.route)} aria-current={p.route === route ? "page" : undefined}>
                  {p.label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <div className="topbar-tools">
          <StreamBadge />
          <span className="muted small" title={`Times are shown in ${zone}`}>
            {zoneAbbreviation(zone)}
          </span>
          <button
            type="button"
            className="button-secondary"
            aria-pressed={theme === "light"}
            onClick={() => applyTheme(theme === "dark" ? "light" : "dark")}
            title="Toggle the dark or light theme"
          >
            {theme === "dark" ? "Light theme" : "Dark theme"}
          </button>
          <span className="muted small user" data-testid="user-email">
            {profile.data?.email ?? ""}
          </span>
          <button type="button" className="button-secondary" onClick={() => void session.logout()}>
            Sign out
          </button>
        </div>
      </header>
      <OfflineBanner />
      <main id="main" tabIndex={-1}>
        {profile.error ? <ErrorBox error={profile.error} retry={profile.reload} /> : null}
        {page ? page.render() : route === "/" ? null : <NotFound />}
      </main>
    </ProfileContext.Provider>
  );
}

function NotFound() {
  return (
    <section className="page">
      <h1>Page not found</h1>
      <p>
        <a {...linkProps("/market")}>Go to the live market</a>
      </p>
    </section>
  );
}
