/** Data hooks: one API resource with loading and error states, the theme, the profile. */
import { createContext, useCallback, useContext, useEffect, useState, useSyncExternalStore } from "react";
import { api, ApiError } from "../api/client";
import type { Profile } from "../api/types";

export interface Resource<T> {
  data: T | null;
  error: ApiError | null;
  loading: boolean;
  reload: () => void;
}

/** GET `path` (none while `path` is null), again every `refreshMs` if given. */
export function useResource<T>(path: string | null, refreshMs?: number): Resource<T> {
  const load = useCallback((signal: AbortSignal) => api<T>(path ?? "", { signal }), [path]);
  return useLoader<T>(path, load, refreshMs);
}

/** Run `load` whenever `key` changes (none while it is null), again every `refreshMs`. */
export function useLoader<T>(
  key: string | null,
  load: (signal: AbortSignal) => Promise<T>,
  refreshMs?: number,
): Resource<T> {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [loading, setLoading] = useState(key !== null);
  const [version, setVersion] = useState(0);
  const reload = useCallback(() => setVersion((v) => v + 1), []);

  useEffect(() => {
    if (key === null) return;
    const controller = new AbortController();
    let timer: number | undefined;
    const run = async (first: boolean) => {
      if (first) setLoading(true);
      try {
        const body = await load(controller.signal);
        if (controller.signal.aborted) return;
        setData(body);
        setError(null);
      } catch (caught) {
        if (controller.signal.aborted) return;
        setError(caught instanceof ApiError ? caught : new ApiError(0, "client_error", String(caught)));
      } finally {
        if (!controller.signal.aborted) setLoading(false);
      }
      if (refreshMs && !controller.signal.aborted) {
        timer = window.setTimeout(() => void run(false), refreshMs);
      }
    };
    void run(true);
    return () => {
      controller.abort();
      window.clearTimeout(timer);
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps -- `load` follows `key`
  }, [key, refreshMs, version]);

  return { data, error, loading, reload };
}

export type Theme = "dark" | "light";
const THEME_KEY = "chainflow.theme";
const themeListeners = new Set<() => void>();

export function initialTheme(): Theme {
  const stored = localStorage.getItem(THEME_KEY);
  if (stored === "dark" || stored === "light") return stored;
  return window.matchMedia("(prefers-color-scheme: light)").matches ? "light" : "dark";
}

export function applyTheme(theme: Theme): void {
  document.documentElement.dataset.theme = theme;
  localStorage.setItem(THEME_KEY, theme);
  themeListeners.forEach((listener) => listener());
}

export function useTheme(): Theme {
  return useSyncExternalStore(
    (listener) => {
      themeListeners.add(listener);
      return () => themeListeners.delete(listener);
    },
    () => (document.documentElement.dataset.theme === "light" ? "light" : "dark"),
  );
}

export const ProfileContext = createContext<Profile | null>(null);

export function useProfile(): Profile | null {
  return useContext(ProfileContext);
}

/** The time zone times are shown in: the profile's IANA zone, UTC until it is known. */
export function useTimeZone(): string {
  return useProfile()?.timezone || "UTC";
}

export interface Action {
  busy: boolean;
  error: ApiError | null;
  /** Run `work`; its error (as an `ApiError`) is kept in `error`, the result returned. */
  run: <T>(work: () => Promise<T>) => Promise<T | undefined>;
  clear: () => void;
}

/** A button's request: busy while it runs, its error kept for an `ErrorBox`. */
export function useAction(): Action {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const run = useCallback(async <T,>(work: () => Promise<T>): Promise<T | undefined> => {
    setBusy(true);
    setError(null);
    try {
      return await work();
    } catch (caught) {
      setError(caught instanceof ApiError ? caught : new ApiError(0, "client_error", String(caught)));
      return undefined;
    } finally {
      setBusy(false);
    }
  }, []);
  const clear = useCallback(() => setError(null), []);
  return { busy, error, run, clear };
}
