/** A small history router under the app's base path (`/app/`). */
import { useSyncExternalStore } from "react";

export const BASE = import.meta.env.BASE_URL.replace(/\/$/, "");

const listeners = new Set<() => void>();

function currentRoute(): string {
  const path = location.pathname.startsWith(BASE) ? location.pathname.slice(BASE.length) : "/";
  return path.replace(/\/+$/, "") || "/";
}

window.addEventListener("popstate", () => listeners.forEach((listener) => listener()));

export function navigate(route: string, replace = false): void {
  const url = BASE + (route === "/" ? "/" : route);
  if (replace) history.replaceState(null, "", url);
  else history.pushState(null, "", url);
  listeners.forEach((listener) => listener());
  window.scrollTo(0, 0);
}

export function useRoute(): string {
  return useSyncExternalStore(
    (listener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    currentRoute,
  );
}

/** Props for an in-app link: a real href (new tab, keyboard) plus client navigation. */
export function linkProps(route: string): { href: string; onClick: (event: React.MouseEvent) => void } {
  return {
    href: BASE + route,
    onClick: (event: React.MouseEvent) => {
      if (event.defaultPrevented || event.button !== 0) return;
      if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
      event.preventDefault();
      navigate(route);
    },
  };
}
