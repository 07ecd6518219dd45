/** The shell: session gate, navigation, theme toggle, the live stream and the pages. */
import { lazy, Suspense, useEffect, useSyncExternalStore } from "react";
import { session } from "./api/session";
import type { Profile } from "./api/types";
import { safeTimeZone, zoneAbbreviation } from "./format";
import { stream } from "./live/stream";
import { ApiKeysPage } from "./pages/ApiKeys";
import { AuthPage } from "./pages/Auth";
import { ResetPasswordPage, VerifyEmailPage } from "./pages/AccountLinks";
import { MarketPage } from "./pages/Market";
import { PaperPage } from "./pages/Paper";
import { linkProps, navigate, useRoute } from "./router";
import { applyTheme, ProfileContext, useResource, useTheme } from "./ui/hooks";
import { ErrorBox, Loading, OfflineBanner, StreamBadge } from "./ui/states";

// Pages beyond the live market load on first visit: the first load stays small.
const BacktestsPage = lazy(() => import("./pages/backtests/BacktestsPage").then((m) => ({ default: m.BacktestsPage })));
const BacktestJobPage = lazy(() =>
  import("./pages/backtests/BacktestJobPage").then((m) => ({ default: m.BacktestJobPage })),
);
const OptimizePage = lazy(() => import("./pages/optimize/OptimizePage").then((m) => ({ default: m.OptimizePage })));
const NotificationsPage = lazy(() =>
  import("./pages/settings/NotificationsPage").then((m) => ({ default: m.NotificationsPage })),
);
const TerminalsPage = lazy(() => import("./pages/settings/TerminalsPage").then((m) => ({ default: m.TerminalsPage })));
const TeamPage = lazy(() => import("./pages/settings/TeamPage").then((m) => ({ default: m.TeamPage })));
const BillingPage = lazy(() => import("./pages/settings/BillingPage").then((m) => ({ default: m.BillingPage })));
const AdminPage = lazy(() => import("./pages/admin/AdminPage").then((m) => ({ default: m.AdminPage })));
const RiskPage = lazy(() => import("./pages/Risk").then((m) => ({ default: m.RiskPage })));
const ModelsPage = lazy(() => import("./pages/models/ModelsPage").then((m) => ({ default: m.ModelsPage })));

interface PageSpec {
  route: string;
  label: string;
  /** `rest`: what follows the route (`/backtests/ID` gives `ID`), "" on the route itself. */
  render: (rest: string) => React.ReactNode;
  /** Shown in the navigation to platform superadmins only. */
  superadmin?: boolean;
}

const PAGES: PageSpec[] = [
  { route: "/market", label: "Market", render: () => <MarketPage /> },
  { route: "/paper", label: "Paper account", render: () => <PaperPage /> },
  {
    route: "/backtests",
    label: "Backtests",
    render: (rest) => (rest ? <BacktestJobPage key={rest} jobId={decodeURIComponent(rest)} /> : <BacktestsPage />),
  },
  { route: "/optimize", label: "Optimize", render: () => <OptimizePage /> },
  { route: "/risk", label: "Risk", render: () => <RiskPage /> },
  { route: "/models", label: "Models", render: () => <ModelsPage /> },
  { route: "/api-keys", label: "API keys", render: () => <ApiKeysPage /> },
  { route: "/terminals", label: "Terminals", render: () => <TerminalsPage /> },
  { route: "/notifications", label: "Notifications", render: () => <NotificationsPage /> },
  { route: "/team", label: "Team", render: () => <TeamPage /> },
  { route: "/billing", label: "Billing", render: () => <BillingPage /> },
  { route: "/admin", label: "Admin", render: () => <AdminPage />, superadmin: true },
];

/** Pages that links in e-mails open, signed in or not. */
const LINK_PAGES: Record<string, () => React.ReactNode> = {
  "/verify-email": () => <VerifyEmailPage />,
  "/reset-password": () => <ResetPasswordPage />,
};

function findPage(route: string): { page: PageSpec; rest: string } | null {
  for (const page of PAGES) {
    if (route === page.route) return { page, rest: "" };
    if (route.startsWith(page.route + "/")) {
      const rest = route.slice(page.route.length + 1);
      if (rest && !rest.includes("/")) return { page, rest };
    }
  }
  return null;
}

export function App() {
  const state = useSyncExternalStore(session.subscribe, session.snapshot);
  const route = useRoute();

  useEffect(() => {
    void session.restore();
  }, []);

  const linkPage = LINK_PAGES[route];
  if (linkPage) return linkPage();
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
  const found = findPage(route);
  const page = found?.page;

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
            {PAGES.filter((p) => !p.superadmin || profile.data?.is_superadmin).map((p) => (
              <li key={p.route}>
                <a {...linkProps(p.route)} aria-current={p === page ? "page" : undefined}>
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
        <Suspense fallback={<Loading what="the page" />}>
          {found ? found.page.render(found.rest) : route === "/" ? null : <NotFound />}
        </Suspense>
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
