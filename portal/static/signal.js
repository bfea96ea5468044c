// Signalling protocol v1 (docs/signalling.md) from a browser page: one WebSocket to /ws/signal with the
// session cookie (or a guest token in the path's query), requests matched by `ref`, heartbeats, and
// reconnects with backoff. Pages register `onOpen` to (re)watch the queue or (re)join a consult
// every time a socket opens, so a reconnect picks up where the page was.

const PROTOCOL = 1;
const BACKOFF_MS = [500, 1000, 2000, 4000, 8000, 15000];
const REQUEST_TIMEOUT_MS = 15000;

export class SignalError extends Error {
  // `code` is the server's error code, or a local one: `timeout`, `closed`.
  constructor(code, message, reply) {
    super(`${code}: ${message || ""}`);
    this.code = code;
    this.reply = reply;
  }
}

export class SignalClient {
  constructor(path = "/ws/signal") {
    const scheme = window.location.protocol === "https:" ? "wss" : "ws";
    this.url = `${scheme}://${window.location.host}${path}`;
    this.ws = null;
    this.welcome = null;
    this.status = "idle"; // idle | connecting | open | reconnecting | stopped
    this.handlers = new Map();
    this.pending = new Map();
    this.openHooks = [];
    this.attempt = 0;
    this.seq = 0;
    this.refPrefix = Math.random().toString(36).slice(2, 8);
    this.heartbeat = null;
    this.retryTimer = null;
    this.lastHeard = 0;
    window.addEventListener("online", () => this.retryNow());
  }

  // Handlers get every message of a type (replies to our requests included); "*" gets all.
  on(type, handler) {
    if (!this.handlers.has(type)) this.handlers.set(type, []);
    this.handlers.get(type).push(handler);
    return this;
  }

  // Runs after each `welcome`, first connection and reconnects alike; may be async.
  onOpen(hook) {
    this.openHooks.push(hook);
    return this;
  }

  connect() {
    if (this.status === "stopped") return;
    this.setStatus(this.attempt === 0 && !this.welcome ? "connecting" : "reconnecting");
    let ws;
    try {
      ws = new WebSocket(this.url);
    } catch (err) {
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    ws.addEventListener("message", (event) => this.received(ws, event.data));
    ws.addEventListener("close", (event) => this.closed(ws, event));
  }

  // Stop for good (the consult ended, the page is leaving).
  stop() {
    this.setStatus("stopped");
    clearTimeout(this.retryTimer);
    clearInterval(this.heartbeat);
    if (this.ws) this.ws.close(1000, "bye");
    this.failPending("closed");
  }

  get connected() {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN && this.welcome !== null && this.status === "open";
  }

  send(type, fields = {}) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify({ v: PROTOCOL, type, ...fields }));
    return true;
  }

  // Send and wait for the direct reply (matched by ref); rejects with SignalError on `error`.
  request(type, fields = {}, timeoutMs = REQUEST_TIMEOUT_MS) {
    const ref = `${this.refPrefix}-${++this.seq}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(ref);
        reject(new SignalError("timeout", `no reply to ${type}`));
      }, timeoutMs);
      this.pending.set(ref, { resolve, reject, timer });
      if (!this.send(type, { ...fields, ref })) {
        clearTimeout(timer);
        this.pending.delete(ref);
        reject(new SignalError("closed", "not connected"));
      }
    });
  }

  retryNow() {
    if (this.status === "reconnecting" && (!this.ws || this.ws.readyState === WebSocket.CLOSED)) {
      clearTimeout(this.retryTimer);
      this.connect();
    }
  }

  // --- internals -------------------------------------------------------------------------------

  setStatus(status) {
    if (this.status === status) return;
    if (this.status === "stopped") return;
    this.status = status;
    this.emit({ type: "status", status });
  }

  emit(message) {
    for (const key of [message.type, "*"]) {
      for (const handler of this.handlers.get(key) || []) {
        try {
          handler(message);
        } catch (err) {
          console.error("signal handler failed", message.type, err);
        }
      }
    }
  }

  received(ws, data) {
    if (ws !== this.ws) return;
    this.lastHeard = Date.now();
    let message;
    try {
      message = JSON.parse(data);
    } catch (err) {
      console.warn("signalling: not JSON", data);
      return;
    }
    if (message.type === "welcome") {
      this.welcome = message;
      this.attempt = 0;
      this.startHeartbeat(message.heartbeat_seconds);
      this.setStatus("open");
      this.runOpenHooks();
    }
    if (message.type === "error" && message.code === "auth_required") {
      this.setStatus("stopped");
      this.failPending("auth_required");
    }
    const pending = message.ref ? this.pending.get(message.ref) : undefined;
    if (pending) {
      this.pending.delete(message.ref);
      clearTimeout(pending.timer);
      if (message.type === "error") pending.reject(new SignalError(message.code, message.message, message));
      else pending.resolve(message);
    }
    this.emit(message);
  }

  async runOpenHooks() {
    for (const hook of this.openHooks) {
      try {
        await hook(this.welcome);
      } catch (err) {
        console.warn("signalling: open hook failed", err);
      }
    }
  }

  closed(ws, event) {
    if (ws !== this.ws) return;
    clearInterval(this.heartbeat);
    this.failPending("closed");
    this.ws = null;
    if (event.code === 4401 || this.status === "stopped") {
      this.setStatus("stopped");
      return;
    }
    this.scheduleReconnect();
  }

  scheduleReconnect() {
    this.setStatus("reconnecting");
    const base = BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)];
    this.attempt += 1;
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.connect(), base * (0.8 + Math.random() * 0.4));
  }

  failPending(code) {
    for (const [ref, pending] of this.pending) {
      clearTimeout(pending.timer);
      pending.reject(new SignalError(code, "socket closed"));
      this.pending.delete(ref);
    }
  }

  startHeartbeat(seconds) {
    clearInterval(this.heartbeat);
    const every = Math.max(5, Number(seconds) || 20) * 1000;
    this.heartbeat = setInterval(() => {
      if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return;
      // Nothing heard for three beats: the socket is dead even if the browser has not noticed.
      if (Date.now() - this.lastHeard > 3 * every) {
        this.ws.close(4000, "heartbeat");
        this.closed(this.ws, { code: 4000 });
        return;
      }
      this.send("ping");
    }, every);
  }
}

// Page strings: a JSON block rendered by the server with t(); `{name}` placeholders filled here.
export function loadStrings(id) {
  const element = document.getElementById(id);
  const data = element ? JSON.parse(element.textContent) : {};
  return data;
}

export function translator(strings) {
  return (key, params = {}) => {
    const text = strings[key];
    if (text === undefined) {
      console.warn("missing string", key);
      return key;
    }
    return text.replace(/\{(\w+)\}/g, (whole, name) => (name in params ? String(params[name]) : whole));
  };
}

// The message for a signalling error code, in the page's language.
export function errorText(t, strings, code) {
  const key = `consult.error.${code}`;
  return key in strings ? t(key) : t("consult.error.generic", { code });
}

// mm:ss (or h:mm:ss) since an ISO instant, never negative.
export function elapsed(sinceMs, nowMs = Date.now()) {
  const total = Math.max(0, Math.floor((nowMs - sinceMs) / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const mm = String(m).padStart(2, "0");
  const ss = String(s).padStart(2, "0");
  return h > 0 ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}
