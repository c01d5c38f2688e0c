// The browser SDK: one IMClient per (user, tab) keeps a session alive.
//
// The same guarantees and algorithms as the Python SDK (imclient/client.py): log in
// over REST; one WebSocket to the address `GET /api/gateway/` names (or the one an
// `offline` frame names); `auth` first; heartbeats and a silence watchdog; on a lost
// link, reconnect after an exponential, jittered delay; re-send every unacknowledged
// message under its original id (the server stores it once); catch up with the
// channel list then each channel from the last seq held; pushes, acks and sync pages
// all go through one SeqTracker, so the application sees each (channel, seq) once
// and in seq order, and a hole is pulled with `sync` after a short reorder window.
//
// Events (CustomEvent, fields in `detail`):
//   status   {state: "connecting"|"online"|"offline"|"ended", reason, retryInMs}
//   message  {message, own}   each stored message once, in seq order per channel
//   channels {channels: {channel: last_seq}}   after each full sync
//   pending  {}               the set of unacknowledged sends changed
//   read     the server's read frame (section 11)
//   typing   the server's typing frame (section 11)
//   frame    any other frame this SDK does not know (ignored otherwise)
//   ended    {reason}          the session is over (logout, kicked, replaced, ...)

import { ApiError, NetworkError, Rest } from "./rest.js";
import { SeqTracker } from "./tracker.js";

export { ApiError, NetworkError, SeqTracker };

export const PROTOCOL_VERSION = 1;
const SYNC_PAGE = 100;
// offline reasons after which this token or device must not reconnect (section 2).
const ENDING_REASONS = new Set(["kicked", "logout", "expired", "replaced"]);
// Error codes after which the same frame may simply be sent again.
const RETRYABLE = new Set(["rate_limited", "internal"]);
// Server errors on a sync that mean: not (or no longer) a member.
const NOT_MINE = new Set(["forbidden", "not_found", "invalid"]);

export class SessionEnded extends Error {
  constructor(reason) {
    super(`session ended: ${reason}`);
    this.name = "SessionEnded";
    this.reason = reason;
  }
}

export class SendFailed extends Error {
  constructor(code, message, id) {
    super(`${code}: ${message}`);
    this.name = "SendFailed";
    this.code = code;
    this.id = id;
  }
}

class LinkLost extends Error {}

class Reconnect extends Error {
  constructor(reason, address = null, immediate = false) {
    super(reason);
    this.reason = reason;
    this.address = address;
    this.immediate = immediate;
  }
}

class ServerError extends Error {
  constructor(code, message) {
    super(`${code}: ${message}`);
    this.code = code;
  }
}

// Exponential delays with full-range jitter: attempt n waits a random time in
// [d/2, d], d = min(max, initial * factor**n).
export class Backoff {
  constructor(initialMs, maxMs, factor = 2, random = Math.random) {
    this.initialMs = initialMs;
    this.maxMs = maxMs;
    this.factor = factor;
    this.random = random;
    this.attempt = 0;
  }

  next() {
    const ceiling = Math.min(this.maxMs, this.initialMs * this.factor ** Math.min(this.attempt, 64));
    this.attempt += 1;
    return ceiling / 2 + this.random() * (ceiling / 2);
  }

  reset() {
    this.attempt = 0;
  }
}

export function randomHex(bytes) {
  const data = crypto.getRandomValues(new Uint8Array(bytes));
  return Array.from(data, (b) => b.toString(16).padStart(2, "0")).join("");
}

function fnv1a(text) {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash.toString(16).padStart(8, "0");
}

// The channel a content frame goes to, as the server will name it (section 3).
export function channelOf(frame, userId) {
  if (frame.channel) return frame.channel;
  if (frame.group != null) return `g:${frame.group}`;
  const [a, b] = [Number(userId), Number(frame.to)].sort((x, y) => x - y);
  return `p:${a}:${b}`;
}

const now = () => performance.now();

export class IMClient extends EventTarget {
  constructor({
    baseUrl = globalThis.location ? location.origin : "",
    device,
    token = null,
    user = null,
    wsUrl = null, // pins the WebSocket address (no gateway look-up)
    reorderWindowMs = 300,
    resyncIntervalMs = 30000,
    backoffInitialMs = 250,
    backoffMaxMs = 10000,
    connectTimeoutMs = 10000,
    requestTimeoutMs = 20000,
    heartbeatMs = null,
    storage = globalThis.sessionStorage ?? null, // keeps unacknowledged sends across a reload
  } = {}) {
    super();
    if (!device || !/^[A-Za-z0-9\-_.:@]{1,64}$/.test(device)) {
      throw new Error("device must be 1..64 letters, digits or -_.:@");
    }
    this.rest = new Rest(baseUrl, { timeoutMs: requestTimeoutMs });
    this.device = device;
    this.token = token;
    this.user = user;
    this.pinned = wsUrl;
    this.reorderWindowMs = reorderWindowMs;
    this.resyncIntervalMs = resyncIntervalMs;
    this.connectTimeoutMs = connectTimeoutMs;
    this.requestTimeoutMs = requestTimeoutMs;
    this.heartbeatMs = heartbeatMs;
    this.storage = storage;
    this.backoff = new Backoff(backoffInitialMs, backoffMaxMs);
    this.idPrefix = `w${fnv1a(device)}-`;
    this.tracker = new SeqTracker();
    this.pending = new Map(); // client id -> {frame, channel, sentOn, resolve, reject, promise}
    this.requests = new Map(); // request id -> {resolve, reject, timer, link}
    this.requestCounter = 0;
    this.readIds = new Set(); // ids of recent `read` frames
    this.readUnsupported = false; // the server answered `read` with unknown_type
    this.link = null;
    this.redirect = null;
    this.needBaseline = true;
    this.running = false;
    this.stopped = false;
    this.ended = null;
    this.pausedUntil = 0;
    this.rateStrikes = 0;
    this.syncChain = Promise.resolve();
    this.wake = null; // resolves the reconnect delay early
    this.state = { state: "offline", reason: "not connected" };
    this.stats = { connections: 0, sessions: 0, pushed: 0, pulled: 0, gapSyncs: 0, fullSyncs: 0, resent: 0, acks: 0, dupAcks: 0 };
    this.restorePending();
  }

  get userId() {
    return this.user ? this.user.id : null;
  }

  get online() {
    return this.state.state === "online";
  }

  // --- REST -----------------------------------------------------------------------

  async register(username, password, displayName) {
    const body = { username, password };
    if (displayName) body.display_name = displayName;
    return this.rest.call("POST", "/api/auth/register/", { body });
  }

  async login(username, password) {
    const answer = await this.rest.call("POST", "/api/auth/login/", {
      body: { username, password, device: this.device },
    });
    this.token = answer.token;
    this.user = answer.user;
    return answer.user;
  }

  async logout() {
    try {
      await this.api("POST", "/api/auth/logout/");
    } finally {
      this.end("logout");
    }
  }

  // Any REST call with this client's token, e.g. api("GET", "/api/groups/").
  api(method, path, body, query) {
    return this.rest.call(method, path, { body, query, token: this.token });
  }

  history(channel, { after, before, limit = 50 } = {}) {
    return this.rest.call("GET", `/api/channels/${encodeURIComponent(channel)}/messages/`, {
      token: this.token,
      query: { after, before, limit },
    });
  }

  upload(file) {
    const form = new FormData();
    form.append("file", file, file.name);
    return this.rest.call("POST", "/api/media/", { form, token: this.token });
  }

  // --- status ---------------------------------------------------------------------

  setStatus(state, fields = {}) {
    this.state = { state, ...fields };
    this.emit("status", this.state);
  }

  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  // --- lifecycle ------------------------------------------------------------------

  // Connect and keep reconnecting until stop() or an ending reason.
  start() {
    if (this.running) return;
    if (!this.token) throw new Error("no token: log in first");
    if (this.ended) throw new SessionEnded(this.ended);
    this.running = true;
    this.stopped = false;
    this.onBrowserOnline = () => this.wakeUp();
    globalThis.addEventListener?.("online", this.onBrowserOnline);
    this.runLoop();
  }

  stop() {
    this.stopped = true;
    this.running = false;
    globalThis.removeEventListener?.("online", this.onBrowserOnline);
    if (this.link) this.link.fail(new LinkLost("stopped"));
    this.wakeUp();
    this.setStatus("offline", { reason: "stopped" });
  }

  end(reason) {
    if (this.ended) return;
    this.ended = reason;
    this.stop();
    for (const pending of this.pending.values()) pending.reject(new SessionEnded(reason));
    this.pending.clear();
    this.savePending();
    this.setStatus("ended", { reason });
    this.emit("ended", { reason });
  }

  wakeUp() {
    if (this.wake) this.wake();
  }

  sleep(ms) {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    }).finally(() => {
      this.wake = null;
    });
  }

  async runLoop() {
    while (!this.stopped) {
      let delay = null;
      let reason = "connection failed";
      try {
        const address = await this.nextAddress();
        if (this.stopped) return;
        this.setStatus("connecting", { address });
        await this.session(address);
      } catch (error) {
        if (this.stopped) return;
        if (error instanceof SessionEnded) {
          this.end(error.reason);
          return;
        }
        if (error instanceof ApiError && error.status === 401) {
          this.end("bad_token");
          return;
        }
        reason = error.reason || error.message || String(error);
        if (error instanceof Reconnect) {
          this.redirect = error.address;
          if (error.immediate || error.address || error.reason === "rebalance") delay = 0;
        }
      }
      if (this.stopped) return;
      if (delay === null) delay = this.backoff.next();
      this.setStatus("offline", { reason, retryInMs: delay });
      if (delay) await this.sleep(delay);
    }
  }

  async nextAddress() {
    if (this.redirect) {
      const address = this.redirect;
      this.redirect = null;
      return address;
    }
    if (this.pinned) return this.pinned;
    const gateway = await this.api("GET", "/api/gateway/");
    if (!gateway || typeof gateway.ws !== "string") throw new NetworkError("the gateway names no ws address");
    return gateway.ws;
  }

  openSocket(address) {
    return new Promise((resolve, reject) => {
      let ws;
      try {
        ws = new WebSocket(address);
      } catch (error) {
        reject(new LinkLost(`cannot connect to ${address}: ${error.message}`));
        return;
      }
      const timer = setTimeout(() => {
        ws.close();
        reject(new LinkLost(`cannot connect to ${address}: timeout`));
      }, this.connectTimeoutMs);
      ws.onopen = () => {
        clearTimeout(timer);
        resolve(ws);
      };
      ws.onclose = ws.onerror = () => {
        clearTimeout(timer);
        reject(new LinkLost(`cannot connect to ${address}`));
      };
    });
  }

  // One connection, until it fails: always ends by throwing.
  async session(address) {
    const ws = await this.openSocket(address);
    this.stats.connections += 1;
    const link = { ws, address, lastRx: now(), closed: false, authed: false, timers: [] };
    let failSession;
    const ended = new Promise((_, reject) => {
      failSession = reject;
    });
    ended.catch(() => {});
    link.fail = (error) => {
      if (link.closed) return;
      link.closed = true;
      failSession(error);
      try {
        ws.close();
      } catch {
        // already closed
      }
    };
    link.send = (frame) => {
      if (link.closed) return;
      try {
        ws.send(JSON.stringify(frame));
      } catch (error) {
        link.fail(new LinkLost(`write failed: ${error.message}`));
      }
    };
    ws.onmessage = (event) => {
      link.lastRx = now();
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        link.fail(new LinkLost("unreadable frame"));
        return;
      }
      if (!frame || typeof frame !== "object" || Array.isArray(frame) || typeof frame.type !== "string") {
        link.fail(new LinkLost("a frame without a type"));
        return;
      }
      try {
        this.onFrame(link, frame);
      } catch (error) {
        link.fail(error);
      }
    };
    ws.onclose = (event) => link.fail(new LinkLost(`closed by the server (${event.code})`));
    ws.onerror = () => link.fail(new LinkLost("socket error"));
    this.link = link;
    try {
      const authOk = this.request(link, {
        type: "auth", token: this.token, device: this.device, v: PROTOCOL_VERSION,
      }, { retry: false, timeoutMs: this.connectTimeoutMs });
      let ok;
      try {
        ok = await Promise.race([authOk, ended]);
      } catch (error) {
        // A refused token or auth frame is final; anything else (rate_limited at
        // admission, a lost link) is retried after a backoff.
        if (error instanceof ServerError && (error.code === "bad_token" || error.code === "invalid")) {
          throw new SessionEnded(error.code);
        }
        throw error;
      }
      link.authed = true;
      if (this.user) this.user.id = ok.user;
      else this.user = { id: ok.user };
      let interval = Number(ok.heartbeat || 30) * 1000;
      if (this.heartbeatMs) interval = Math.min(interval, this.heartbeatMs);
      this.startHeartbeat(link, interval);
      this.flushSends();
      await Promise.race([this.fullSync(link), ended]);
      this.stats.sessions += 1;
      this.backoff.reset();
      this.setStatus("online", { address });
      link.timers.push(setInterval(() => this.queueSync(link, () => this.fullSync(link)), this.resyncIntervalMs));
      this.scheduleGapCheck();
      await ended;
    } finally {
      link.closed = true;
      for (const timer of link.timers) clearInterval(timer);
      clearTimeout(link.gapTimer);
      ws.onmessage = ws.onclose = ws.onerror = null;
      try {
        ws.close();
      } catch {
        // already closed
      }
      for (const [id, request] of this.requests) {
        if (request.link === link) {
          clearTimeout(request.timer);
          request.reject(new LinkLost("connection lost"));
          this.requests.delete(id);
        }
      }
      for (const pending of this.pending.values()) if (pending.sentOn === link) pending.sentOn = null;
      if (this.link === link) this.link = null;
    }
    throw new LinkLost("session ended"); // not reached: `ended` always rejects
  }

  startHeartbeat(link, intervalMs) {
    // Three intervals, as the server allows: a hidden tab's timers may fire late
    // (browsers throttle them), and a late check must not drop a live link.
    const deadAfter = 3 * intervalMs + 2000;
    let nextBeat = now() + intervalMs;
    link.timers.push(setInterval(() => {
      const t = now();
      if (t - link.lastRx > deadAfter) {
        link.fail(new LinkLost(`nothing received for ${deadAfter / 1000}s`));
      } else if (t >= nextBeat) {
        nextBeat = t + intervalMs;
        link.send({ type: "heartbeat" });
      }
    }, Math.min(1000, intervalMs / 2)));
  }

  // --- frames ---------------------------------------------------------------------

  onFrame(link, frame) {
    switch (frame.type) {
      case "auth_ok":
      case "sync":
        this.resolve(frame.id, frame);
        break;
      case "ack":
        this.onAck(frame);
        break;
      case "error":
        this.onError(link, frame);
        break;
      case "offline":
        this.onOffline(frame);
        break;
      case "heartbeat":
        break;
      case "read":
      case "typing":
        this.emit(frame.type, frame);
        break;
      default:
        if (typeof frame.channel === "string" && Number.isInteger(frame.seq) && frame.seq > 0) {
          this.stats.pushed += 1;
          this.onMessage(frame);
        } else {
          this.emit("frame", frame); // a frame type this SDK does not know
        }
    }
  }

  onMessage(frame) {
    const own = frame.from === this.userId && typeof frame.id === "string" && frame.id.startsWith(this.idPrefix);
    this.feed(frame, own);
  }

  feed(message, own) {
    for (const item of this.tracker.offer(message, own)) this.emit("message", item);
    if (this.tracker.hasGap(message.channel)) this.scheduleGapCheck();
  }

  onAck(frame) {
    const pending = this.pending.get(frame.id);
    if (!pending) {
      this.resolve(frame.id, frame); // e.g. the ack of a `read`
      return;
    }
    this.pending.delete(frame.id);
    this.savePending();
    this.stats.acks += 1;
    if (frame.dup) this.stats.dupAcks += 1;
    this.rateStrikes = 0;
    const sent = pending.frame;
    const message = {
      ...sent, channel: frame.channel, seq: frame.seq, ts: frame.ts, from: this.userId,
    };
    if (frame.dup) message.dup = true;
    this.feed(message, true);
    pending.resolve(message);
    this.emit("pending", {});
  }

  onError(link, frame) {
    const code = String(frame.code);
    const request = this.requests.get(frame.id);
    if (request) {
      clearTimeout(request.timer);
      this.requests.delete(frame.id);
      request.reject(new ServerError(code, String(frame.message)));
      return;
    }
    const pending = this.pending.get(frame.id);
    if (!pending) {
      if (code === "bad_token") throw new SessionEnded("bad_token");
      if (code === "unknown_type" && this.readIds.has(frame.id)) this.readUnsupported = true;
      this.emit("frame", frame);
      return;
    }
    if (RETRYABLE.has(code)) {
      pending.sentOn = null;
      if (this.pausedUntil <= now()) this.pausedUntil = now() + this.pauseDelay();
      setTimeout(() => this.flushSends(), Math.max(0, this.pausedUntil - now()) + 1);
      return;
    }
    this.pending.delete(frame.id);
    this.savePending();
    pending.reject(new SendFailed(code, String(frame.message), frame.id));
    this.emit("pending", {});
  }

  onOffline(frame) {
    const reason = String(frame.reason);
    if (ENDING_REASONS.has(reason)) throw new SessionEnded(reason);
    const reconnect = frame.reconnect;
    const address = reconnect && typeof reconnect.ws === "string" ? reconnect.ws : null;
    throw new Reconnect(reason, address);
  }

  pauseDelay() {
    this.rateStrikes += 1;
    const ceiling = Math.min(5000, 100 * 2 ** Math.min(this.rateStrikes, 6));
    return ceiling / 2 + Math.random() * (ceiling / 2);
  }

  // --- requests and sync ----------------------------------------------------------

  request(link, frame, { retry = true, timeoutMs = this.requestTimeoutMs } = {}) {
    const attempt = () => new Promise((resolve, reject) => {
      const id = `${frame.type[0]}${++this.requestCounter}`;
      const timer = setTimeout(() => {
        this.requests.delete(id);
        reject(new LinkLost(`no answer to ${frame.type} in time`));
        link.fail(new LinkLost(`no answer to ${frame.type} in time`));
      }, timeoutMs);
      this.requests.set(id, { resolve, reject, timer, link });
      link.send({ ...frame, id });
    });
    const run = async () => {
      for (;;) {
        try {
          return await attempt();
        } catch (error) {
          if (!retry || !(error instanceof ServerError) || !RETRYABLE.has(error.code)) throw error;
          await new Promise((resolve) => setTimeout(resolve, this.pauseDelay()));
          if (link.closed) throw new LinkLost("connection lost");
        }
      }
    };
    return run();
  }

  resolve(id, frame) {
    const request = this.requests.get(id);
    if (!request) return;
    clearTimeout(request.timer);
    this.requests.delete(id);
    if (frame.type === "error") request.reject(new ServerError(frame.code, frame.message));
    else request.resolve(frame);
  }

  // Sync work runs one piece at a time; a failure ends the link (it reconnects).
  queueSync(link, work) {
    this.syncChain = this.syncChain.then(() => (link.closed ? null : work())).catch((error) => link.fail(error));
    return this.syncChain;
  }

  async fullSync(link) {
    this.stats.fullSyncs += 1;
    const reply = await this.request(link, { type: "sync" });
    const listed = {};
    for (const entry of reply.channels || []) listed[entry.channel] = entry.last_seq;
    if (this.needBaseline) {
      // A new page holds nothing yet: what is already stored is history (read it
      // over REST); from here on every message comes through the tracker.
      for (const [channel, lastSeq] of Object.entries(listed)) {
        for (const item of this.tracker.advanceTo(channel, lastSeq)) this.emit("message", item);
      }
      this.needBaseline = false;
    }
    this.emit("channels", { channels: listed });
    for (const entry of reply.channels || []) this.skipRemoved(entry.channel, entry.first_seq);
    for (const [channel, lastSeq] of Object.entries(listed)) {
      if (lastSeq > this.tracker.position(channel)) await this.pull(link, channel);
    }
  }

  // Seqs below a channel's first_seq were removed by the server's retention policy:
  // gone, not a hole to wait for or pull.
  skipRemoved(channel, firstSeq) {
    if (!Number.isInteger(firstSeq) || firstSeq - 1 <= this.tracker.position(channel)) return;
    for (const item of this.tracker.advanceTo(channel, firstSeq - 1)) this.emit("message", item);
  }

  // Fetch `channel` from the last contiguous seq held up to its last seq.
  async pull(link, channel) {
    for (;;) {
      const after = this.tracker.position(channel);
      let reply;
      try {
        reply = await this.request(link, { type: "sync", channel, after, limit: SYNC_PAGE });
      } catch (error) {
        if (error instanceof ServerError) {
          if (NOT_MINE.has(error.code)) this.tracker.forget(channel);
          return;
        }
        throw error;
      }
      const messages = reply.messages || [];
      this.stats.pulled += messages.length;
      this.skipRemoved(channel, reply.first_seq);
      for (const frame of messages) this.onMessage(frame);
      const position = this.tracker.position(channel);
      if (!messages.length || position >= (reply.last_seq || 0) || position === after) break;
    }
    // Still a hole after a complete pull: wait another window instead of looping.
    if (this.tracker.hasGap(channel)) this.tracker.restartGap(channel);
  }

  scheduleGapCheck() {
    const link = this.link;
    if (!link || !link.authed || link.closed) return;
    const deadline = this.tracker.nextGapDeadline(this.reorderWindowMs);
    if (deadline === null) return;
    clearTimeout(link.gapTimer);
    link.gapTimer = setTimeout(() => {
      this.queueSync(link, async () => {
        for (const channel of this.tracker.gaps(this.reorderWindowMs)) {
          this.stats.gapSyncs += 1;
          await this.pull(link, channel);
        }
        this.scheduleGapCheck();
      });
    }, Math.max(0, deadline - now()));
  }

  // --- sending --------------------------------------------------------------------

  newClientId() {
    return this.idPrefix + randomHex(16);
  }

  // Send a content message ({type, body, to | group | channel, target?, id?}).
  // Resolves with the stored message (channel, seq, ts) once acked; until then the
  // frame is re-sent under the same id on every new connection and after
  // `rate_limited`. Rejects with SendFailed when the server refuses it.
  send({ type, body, to, group, channel, target, id }) {
    if (this.ended) return Promise.reject(new SessionEnded(this.ended));
    const clientId = id || this.newClientId();
    const existing = this.pending.get(clientId);
    if (existing) return existing.promise;
    const frame = { type, id: clientId };
    if (to != null) frame.to = to;
    else if (group != null) frame.group = group;
    else if (channel) frame.channel = channel;
    if (target != null) frame.target = target;
    if (body !== undefined) frame.body = body;
    const pending = this.addPending(frame);
    this.savePending();
    this.emit("pending", {});
    this.flushSends();
    return pending.promise;
  }

  addPending(frame) {
    const pending = { frame, channel: this.userId != null ? channelOf(frame, this.userId) : null, sentOn: null };
    pending.promise = new Promise((resolve, reject) => {
      pending.resolve = resolve;
      pending.reject = reject;
    });
    pending.promise.catch(() => {}); // a caller that does not wait must not see an unhandled rejection
    this.pending.set(frame.id, pending);
    return pending;
  }

  // Unacknowledged sends, oldest first: [{frame, channel}].
  pendingMessages() {
    return [...this.pending.values()].map((p) => ({ frame: p.frame, channel: p.channel || channelOf(p.frame, this.userId) }));
  }

  flushSends() {
    const link = this.link;
    if (!link || !link.authed || link.closed) return;
    if (this.pausedUntil > now()) return;
    for (const pending of this.pending.values()) {
      if (pending.sentOn === link) continue;
      if (pending.writes) this.stats.resent += 1;
      pending.writes = (pending.writes || 0) + 1;
      pending.sentOn = link;
      link.send(pending.frame);
      if (link.closed) return;
    }
  }

  // Section 11 (when the server supports it; otherwise it answers unknown_type,
  // which is harmless): tell the server how far this user has read, or that they type.
  markRead(channel, seq) {
    const link = this.link;
    if (this.readUnsupported || !link || !link.authed || link.closed) return;
    const id = `r${++this.requestCounter}`;
    this.readIds.add(id);
    if (this.readIds.size > 100) this.readIds.delete(this.readIds.values().next().value);
    link.send({ type: "read", id, channel, seq });
  }

  typing(channel) {
    const link = this.link;
    if (!link || !link.authed || link.closed) return;
    link.send({ type: "typing", channel });
  }

  // --- unacknowledged sends survive a reload of the tab ------------------------------

  storageKey() {
    return `im.pending.${this.device}`;
  }

  savePending() {
    if (!this.storage) return;
    const frames = [...this.pending.values()].map((p) => p.frame);
    try {
      if (frames.length) this.storage.setItem(this.storageKey(), JSON.stringify({ user: this.userId, frames }));
      else this.storage.removeItem(this.storageKey());
    } catch {
      // storage full or unavailable: the sends stay in memory
    }
  }

  restorePending() {
    if (!this.storage || !this.user) return;
    let saved;
    try {
      saved = JSON.parse(this.storage.getItem(this.storageKey()) || "null");
    } catch {
      saved = null;
    }
    if (!saved || saved.user !== this.userId || !Array.isArray(saved.frames)) return;
    for (const frame of saved.frames) {
      if (frame && typeof frame.id === "string" && !this.pending.has(frame.id)) this.addPending(frame);
    }
  }
}
