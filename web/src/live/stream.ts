/**
 * `WS /ws/stream` (docs/ws-stream.md): one reconnecting connection for the whole app.
 *
 * It authenticates with the session's access token (`?access_token=`), re-subscribes to the
 * wanted symbols after every reconnect, and reconnects with jittered exponential backoff
 * (0.5 s doubling to 15 s). A close with 4001 (token refused) refreshes the token first.
 * `status` drives the "offline" banner; frames go to the listeners of their `type`.
 */
import { session } from "../api/session";

export type StreamStatus = "idle" | "connecting" | "open" | "offline";

export interface StreamState {
  status: StreamStatus;
  retryAt: number | null;
  attempts: number;
}

export type Frame = { type: string; [key: string]: unknown };
type FrameListener = (frame: Frame) => void;

const MIN_BACKOFF_MS = 500;
const MAX_BACKOFF_MS = 15_000;
const CLOSE_AUTH_FAILED = 4001;

class LiveStream {
  private socket: WebSocket | null = null;
  private wanted = new Set<string>();
  private sent = new Set<string>();
  private frameListeners = new Map<string, Set<FrameListener>>();
  private stateListeners = new Set<() => void>();
  private retryTimer: number | undefined;
  private running = false;
  private tokenRefused = false;
  state: StreamState = { status: "idle", retryAt: null, attempts: 0 };

  subscribeState = (listener: () => void): (() => void) => {
    this.stateListeners.add(listener);
    return () => this.stateListeners.delete(listener);
  };

  snapshot = (): StreamState => this.state;

  on(type: string, listener: FrameListener): () => void {
    const listeners = this.frameListeners.get(type) ?? new Set<FrameListener>();
    listeners.add(listener);
    this.frameListeners.set(type, listeners);
    return () => listeners.delete(listener);
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    window.addEventListener("online", this.reconnectNow);
    void this.connect();
  }

  stop(): void {
    this.running = false;
    window.removeEventListener("online", this.reconnectNow);
    window.clearTimeout(this.retryTimer);
    this.socket?.close(1000, "signed out");
    this.socket = null;
    this.setState({ status: "idle", retryAt: null, attempts: 0 });
  }

  /** Follow these symbols (ticks, bars, signals), replacing the previous set. */
  follow(symbols: string[]): void {
    this.wanted = new Set(symbols.map((s) => s.toUpperCase()));
    this.sendSubscription();
  }

  private reconnectNow = (): void => {
    if (!this.running || this.state.status === "open" || this.state.status === "connecting") return;
    window.clearTimeout(this.retryTimer);
    void this.connect();
  };

  private setState(state: StreamState): void {
    this.state = state;
    this.stateListeners.forEach((listener) => listener());
  }

  private async connect(): Promise<void> {
    this.setState({ ...this.state, status: "connecting", retryAt: null });
    let token: string;
    try {
      token = this.tokenRefused ? await session.refresh() : await session.accessToken();
      this.tokenRefused = false;
    } catch {
      this.scheduleRetry();
      return;
    }
    if (!this.running) return;
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const url = `${scheme}://${location.host}/ws/stream?access_token=${encodeURIComponent(token)}`;
    const socket = new WebSocket(url);
    this.socket = socket;
    socket.onopen = () => {
      this.sent = new Set();
      this.setState({ status: "open", retryAt: null, attempts: 0 });
      this.sendSubscription();
    };
    socket.onmessage = (event: MessageEvent<string>) => this.dispatch(event.data);
    socket.onclose = (event: CloseEvent) => {
      if (this.socket !== socket) return;
      this.socket = null;
      if (event.code === CLOSE_AUTH_FAILED) this.tokenRefused = true;
      if (this.running) this.scheduleRetry();
    };
  }

  private scheduleRetry(): void {
    const attempts = this.state.attempts + 1;
    const base = Math.min(MAX_BACKOFF_MS, MIN_BACKOFF_MS * 2 ** (attempts - 1));
    const delay = base / 2 + Math.random() * (base / 2);
    window.clearTimeout(this.retryTimer);
    this.retryTimer = window.setTimeout(() => void this.connect(), delay);
    this.setState({ status: "offline", retryAt: Date.now() + delay, attempts });
  }

  private sendSubscription(): void {
    const socket = this.socket;
    if (socket?.readyState !== WebSocket.OPEN) return;
    const gone = [...this.sent].filter((symbol) => !this.wanted.has(symbol));
    const added = [...this.wanted].filter((symbol) => !this.sent.has(symbol));
    if (gone.length) socket.send(JSON.stringify({ type: "unsubscribe", symbols: gone }));
    if (added.length) socket.send(JSON.stringify({ type: "subscribe", symbols: added }));
    this.sent = new Set(this.wanted);
  }

  private dispatch(data: string): void {
    let frame: Frame;
    try {
      frame = JSON.parse(data) as Frame;
    } catch {
      return;
    }
    if (typeof frame?.type !== "string") return;
    this.frameListeners.get(frame.type)?.forEach((listener) => listener(frame));
  }
}

export const stream = new LiveStream();
