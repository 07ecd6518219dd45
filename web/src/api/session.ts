/**
 * The signed-in session: tokens, their refresh with rotation, and expiry.
 *
 * The access token lives in memory only; the refresh token in localStorage so that a reload
 * keeps the session. Refresh tokens rotate: each is used once, and a second use revokes the
 * whole session on the server, so refreshes are single-flight (one request at a time). The
 * access token is refreshed shortly before it expires, and once more when the server
 * answers 401 anyway; a refused refresh signs the user out with a notice.
 */
import { ApiError, request } from "./request";
import type { Registered, TokenPair } from "./types";

const REFRESH_KEY = "chainflow.refresh";
const EARLY_REFRESH_MS = 30_000;

export type SessionStatus = "restoring" | "signed-in" | "signed-out";

export interface SessionState {
  status: SessionStatus;
  notice: string | null;
}

type Listener = () => void;

class Session {
  private access: string | null = null;
  private expiresAt = 0;
  private refreshing: Promise<string> | null = null;
  private timer: number | undefined;
  private listeners = new Set<Listener>();
  state: SessionState = { status: "restoring", notice: null };

  subscribe = (listener: Listener): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  snapshot = (): SessionState => this.state;

  private set(state: SessionState): void {
    this.state = state;
    this.listeners.forEach((listener) => listener());
  }

  /** On start: use a stored refresh token, if any, to get an access token. */
  async restore(): Promise<void> {
    if (!localStorage.getItem(REFRESH_KEY)) {
      this.set({ status: "signed-out", notice: null });
      return;
    }
    try {
      await this.refresh();
    } catch {
      // refresh() has signed out with a notice when the server refused the token
      if (this.state.status === "restoring") this.set({ status: "signed-out", notice: null });
    }
  }

  async register(email: string, password: string, name?: string): Promise<Registered> {
    return request<Registered>("/api/v1/auth/register", {
      method: "POST",
      body: { email, password, ...(name ? { name } : {}) },
    });
  }

  async login(email: string, password: string): Promise<void> {
    const pair = await request<TokenPair>("/api/v1/auth/login", {
      method: "POST",
      body: { email, password },
    });
    this.accept(pair);
  }

  async logout(): Promise<void> {
    const refresh = localStorage.getItem(REFRESH_KEY);
    this.clear(null);
    if (refresh) {
      await request<void>("/api/v1/auth/logout", {
        method: "POST",
        body: { refresh_token: refresh },
      }).catch(() => undefined);
    }
  }

  /** A valid access token, refreshed first when it is about to expire. */
  async accessToken(): Promise<string> {
    if (this.access && Date.now() < this.expiresAt - EARLY_REFRESH_MS) return this.access;
    return this.refresh();
  }

  /** Rotate the refresh token; concurrent callers share one request. */
  refresh(): Promise<string> {
    if (!this.refreshing) {
      this.refreshing = this.doRefresh().finally(() => {
        this.refreshing = null;
      });
    }
    return this.refreshing;
  }

  private async doRefresh(): Promise<string> {
    const refresh = localStorage.getItem(REFRESH_KEY);
    if (!refresh) {
      this.clear("Please sign in.");
      throw new ApiError(401, "unauthenticated", "Please sign in.");
    }
    try {
      const pair = await request<TokenPair>("/api/v1/auth/refresh", {
        method: "POST",
        body: { refresh_token: refresh },
      });
      this.accept(pair);
      return pair.access_token;
    } catch (error) {
      if (error instanceof ApiError && (error.status === 401 || error.status === 403)) {
        this.clear("Your session has ended. Please sign in again.");
      }
      throw error;
    }
  }

  private accept(pair: TokenPair): void {
    this.access = pair.access_token;
    this.expiresAt = Date.now() + pair.expires_in * 1000;
    localStorage.setItem(REFRESH_KEY, pair.refresh_token);
    window.clearTimeout(this.timer);
    const due = Math.max(5_000, pair.expires_in * 1000 - EARLY_REFRESH_MS);
    this.timer = window.setTimeout(() => void this.refresh().catch(() => undefined), due);
    this.set({ status: "signed-in", notice: null });
  }

  private clear(notice: string | null): void {
    this.access = null;
    this.expiresAt = 0;
    window.clearTimeout(this.timer);
    localStorage.removeItem(REFRESH_KEY);
    this.set({ status: "signed-out", notice });
  }
}

export const session = new Session();
