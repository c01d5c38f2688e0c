// The web app: log in, conversations, one chat at a time. Plain DOM, no framework.
// Everything that talks to the server goes through the SDK (../sdk/client.js).

import { IMClient, SessionEnded, channelOf, randomHex } from "../sdk/client.js";
import { CORRECTIONS, CONTENT_TYPES, Conversation, preview } from "./conversations.js";

const $ = (id) => document.getElementById(id);
const PAGE = 50;
const TYPING_SEND_MS = 3000;
const TYPING_SHOW_MS = 5000;
const PRESENCE_POLL_MS = 30000;
const LINK_REFRESH_MS = 4 * 60 * 1000; // signed media links live IM_MEDIA_LINK_TTL_S (300 s)
const EMOJI = ["👍", "❤️", "😂", "😮", "😢", "🎉", "🙏", "👋", "🔥", "✅"];
const SESSION_KEY = "im.session";
// The server this page talks to: its own origin, unless the page names another in
// <meta name="im-server" content="https://chat.example.com"> (that server must then
// allow this page's origin for REST, and this page's CSP must allow that server).
const SERVER = document.querySelector('meta[name="im-server"]')?.content || location.origin;

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function formatTime(ms) {
  if (!ms) return "";
  const date = new Date(ms);
  const today = new Date();
  const sameDay = date.toDateString() === today.toDateString();
  return sameDay
    ? date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })
    : date.toLocaleString([], { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
}

function formatSize(bytes) {
  if (!Number.isFinite(bytes)) return "";
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

function describeError(error) {
  if (error && error.body && typeof error.body === "object") {
    const parts = [];
    for (const [field, messages] of Object.entries(error.body)) {
      parts.push(`${field === "detail" || field === "non_field_errors" ? "" : field + ": "}${[].concat(messages).join(" ")}`);
    }
    if (parts.length) return parts.join("; ");
  }
  return (error && error.message) || String(error);
}

// Each tab is its own device (docs/protocol.md, Web client): a random name kept for the
// tab's life (sessionStorage survives a reload, not a new tab).
function tabDevice(fresh = false) {
  let device = sessionStorage.getItem("im.device");
  if (!device || fresh) {
    device = `web-${randomHex(6)}`;
    sessionStorage.setItem("im.device", device);
  }
  return device;
}

class App {
  constructor() {
    this.client = null;
    this.conversations = new Map();
    this.items = new Map(); // channel -> list element
    this.current = null;
    this.users = new Map(); // id -> Promise<profile>
    this.mediaLinks = new Map(); // media id -> {url, at}
    this.uploads = new Map(); // media id -> upload answer (own files, before history has them)
    this.typingSentAt = 0;
    this.typingTimers = new Map();
    this.presenceTimer = null;
    this.loadingOlder = false;
  }

  // --- start, log in, log out ---------------------------------------------------------

  boot() {
    $("login-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.authenticate(false);
    });
    $("register").addEventListener("click", () => this.authenticate(true));
    $("logout").addEventListener("click", () => this.logout());
    $("new-chat").addEventListener("keydown", (event) => {
      if (event.key === "Enter") {
        event.preventDefault();
        this.openByUsername(event.target.value.trim());
      }
    });
    $("new-group").addEventListener("click", () => this.toggleGroupForm());
    $("group-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.createGroup();
    });
    $("add-member").addEventListener("submit", (event) => {
      event.preventDefault();
      this.addMember();
    });
    $("composer-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.sendText();
    });
    $("composer").addEventListener("input", () => this.sendTyping());
    $("attach").addEventListener("change", (event) => this.attach(event.target));
    $("emoji-button").addEventListener("click", () => this.toggleEmoji());
    $("emoji-panel").append(...EMOJI.map((emoji) => el("button", {
      type: "button", class: "emoji", "aria-label": `Send ${emoji}`, onclick: () => this.sendEmoji(emoji),
    }, emoji)));
    $("emoji-panel").addEventListener("keydown", (event) => {
      if (event.key === "Escape") {
        this.toggleEmoji(false);
        $("emoji-button").focus();
      }
    });
    $("back").addEventListener("click", () => this.closeChat());
    $("messages").addEventListener("scroll", () => this.onScroll());
    document.addEventListener("visibilitychange", () => this.markCurrentRead());
    window.addEventListener("focus", () => this.markCurrentRead());

    const saved = this.loadSession();
    if (saved) this.start(saved.token, saved.user);
    else this.showLogin();
  }

  loadSession() {
    try {
      const saved = JSON.parse(localStorage.getItem(SESSION_KEY) || "null");
      return saved && saved.token && saved.user ? saved : null;
    } catch {
      return null;
    }
  }

  showLogin(message = "") {
    $("main").hidden = true;
    $("login").hidden = false;
    $("login-error").textContent = message;
    $("login-username").focus();
  }

  async authenticate(register) {
    const username = $("login-username").value.trim();
    const password = $("login-password").value;
    const error = $("login-error");
    error.textContent = "";
    if (!username || !password) {
      error.textContent = "Enter a username and a password.";
      return;
    }
    const client = new IMClient({ baseUrl: SERVER, device: tabDevice() });
    try {
      if (register) await client.register(username, password);
      await client.login(username, password);
    } catch (failure) {
      error.textContent = register ? `Cannot register: ${describeError(failure)}` : "Wrong username or password.";
      if (!register && failure.status !== 400) error.textContent = `Cannot log in: ${describeError(failure)}`;
      return;
    }
    localStorage.setItem(SESSION_KEY, JSON.stringify({ token: client.token, user: client.user }));
    $("login-password").value = "";
    this.start(client.token, client.user);
  }

  async logout() {
    try {
      await this.client.logout();
    } catch {
      // the token is dropped here whatever the server said
    }
    this.reset("");
  }

  reset(message) {
    if (this.client) this.client.stop();
    this.client = null;
    localStorage.removeItem(SESSION_KEY);
    this.conversations.clear();
    this.items.clear();
    this.current = null;
    $("conversations").replaceChildren();
    $("messages").replaceChildren();
    $("chat").hidden = true;
    clearInterval(this.presenceTimer);
    this.showLogin(message);
  }

  start(token, user) {
    $("login").hidden = true;
    $("main").hidden = false;
    $("main").classList.remove("show-chat");
    $("me").textContent = user.display_name || user.username || "";
    this.me = user;
    const client = new IMClient({ baseUrl: SERVER, device: tabDevice(), token, user });
    this.client = client;
    this.users.set(user.id, Promise.resolve(user));
    client.addEventListener("status", (event) => this.showStatus(event.detail));
    client.addEventListener("message", (event) => this.onMessage(event.detail.message));
    client.addEventListener("channels", (event) => this.onChannels(event.detail.channels));
    client.addEventListener("pending", () => this.renderPending());
    client.addEventListener("read", (event) => this.onRead(event.detail));
    client.addEventListener("typing", (event) => this.onTyping(event.detail));
    client.addEventListener("ended", (event) => this.onEnded(event.detail.reason));
    this.loadConversations();
    client.start();
  }

  onEnded(reason) {
    if (reason === "replaced") {
      // Another tab took this tab's device name (a duplicated tab copies it).
      const detail = $("status-detail");
      detail.replaceChildren("This tab was disconnected by another session. ",
        el("button", { type: "button", class: "small", onclick: () => this.resume() }, "Reconnect here"));
      return;
    }
    const messages = {
      logout: "You were logged out.",
      expired: "Your session expired. Log in again.",
      bad_token: "Your session is no longer valid. Log in again.",
      kicked: "You were signed out by a moderator.",
    };
    this.reset(messages[reason] || `Disconnected (${reason}).`);
  }

  resume() {
    const saved = this.loadSession();
    if (!saved) return this.reset("");
    tabDevice(true);
    $("status-detail").textContent = "";
    this.client = null;
    this.conversations.clear();
    this.items.clear();
    $("conversations").replaceChildren();
    this.start(saved.token, saved.user);
    return undefined;
  }

  showStatus(state) {
    const status = $("status");
    const shown = state.state === "online" ? "online" : state.state === "connecting" ? "connecting" : "offline";
    status.textContent = shown;
    status.dataset.state = shown;
    const detail = $("status-detail");
    if (state.state === "offline" && state.retryInMs != null) {
      detail.textContent = `Connection lost; retrying in ${Math.ceil(state.retryInMs / 1000)} s.`;
    } else if (state.state !== "ended") {
      detail.textContent = "";
    }
    if (state.state === "online") this.markCurrentRead();
  }

  // --- names --------------------------------------------------------------------------

  user(id) {
    if (!this.users.has(id)) {
      const promise = this.client.api("GET", `/api/users/${id}/`).catch(() => ({ id, username: `user ${id}` }));
      this.users.set(id, promise);
    }
    return this.users.get(id);
  }

  async userName(id) {
    const profile = await this.user(id);
    return profile.display_name || profile.username;
  }

  // --- conversations ------------------------------------------------------------------

  async loadConversations() {
    const client = this.client;
    try {
      const [channels, groups] = await Promise.all([
        client.api("GET", "/api/channels/"),
        client.api("GET", "/api/groups/"),
      ]);
      if (client !== this.client) return;
      for (const group of groups || []) {
        const conv = this.conversation(`g:${group.id}`);
        conv.title = group.name;
        conv.owner = group.owner;
        this.renderItem(conv);
      }
      const reads = this.localReads();
      for (const entry of channels || []) {
        const conv = this.conversation(entry.channel);
        conv.lastSeq = Math.max(conv.lastSeq, entry.last_seq || 0);
        if (Number.isInteger(entry.read_seq)) conv.readSeq = Math.max(conv.readSeq, entry.read_seq);
        else conv.readSeq = Math.max(conv.readSeq, reads[entry.channel] ?? conv.lastSeq);
        conv.unread = Number.isInteger(entry.unread) ? entry.unread : Math.max(0, conv.lastSeq - conv.readSeq);
        this.renderItem(conv);
        if (entry.last_seq) this.loadLastMessage(conv);
      }
    } catch (error) {
      $("sidebar-error").textContent = `Cannot load conversations: ${describeError(error)}`;
    }
  }

  async loadLastMessage(conv) {
    try {
      const page = await this.client.history(conv.channel, { before: conv.lastSeq + 1, limit: 5 });
      for (const message of page.messages || []) this.absorb(conv, message);
      this.renderItem(conv);
    } catch {
      // the list shows the conversation without a preview
    }
  }

  conversation(channel) {
    let conv = this.conversations.get(channel);
    if (!conv) {
      conv = new Conversation(channel);
      if (conv.kind === "private") {
        conv.peer = conv.members[0] === this.me.id ? conv.members[1] : conv.members[0];
      }
      this.conversations.set(channel, conv);
      // After the caller has filled in what it knows (a group's name from the list).
      queueMicrotask(() => this.describe(conv));
    }
    return conv;
  }

  async describe(conv) {
    try {
      if (conv.kind === "private") {
        conv.title = await this.userName(conv.peer);
      } else if (conv.title === conv.channel) {
        const group = await this.client.api("GET", `/api/groups/${conv.group}/`);
        conv.title = group.name;
        conv.owner = group.owner;
      }
    } catch {
      // keep the channel name as the title
    }
    this.renderItem(conv);
    if (this.current === conv) this.renderHeader();
  }

  localReads() {
    try {
      return JSON.parse(localStorage.getItem(`im.read.${this.me.id}`) || "{}");
    } catch {
      return {};
    }
  }

  saveLocalRead(conv) {
    const reads = this.localReads();
    reads[conv.channel] = conv.readSeq;
    localStorage.setItem(`im.read.${this.me.id}`, JSON.stringify(reads));
  }

  renderItem(conv) {
    let item = this.items.get(conv.channel);
    if (!item) {
      const button = el("button", {
        type: "button", class: "conversation", "data-testid": "conversation", "data-channel": conv.channel,
        onclick: () => this.open(conv),
      }, el("span", { class: "name" }), el("span", { class: "last" }),
      el("span", { class: "unread", "data-testid": "unread" }));
      item = el("li", {}, button);
      this.items.set(conv.channel, item);
    }
    const button = item.firstChild;
    button.querySelector(".name").textContent = conv.title;
    button.querySelector(".last").textContent = preview(conv.lastMessage);
    const badge = button.querySelector(".unread");
    badge.textContent = String(conv.unread);
    badge.dataset.count = String(conv.unread);
    badge.setAttribute("aria-label", `${conv.unread} unread`);
    button.setAttribute("aria-current", this.current === conv ? "true" : "false");
    this.placeItem(conv, item);
  }

  placeItem(conv, item) {
    const list = $("conversations");
    const ordered = [...this.conversations.values()]
      .filter((c) => this.items.has(c.channel))
      .sort((a, b) => b.activity - a.activity || a.channel.localeCompare(b.channel));
    const index = ordered.indexOf(conv);
    const before = ordered[index + 1] ? this.items.get(ordered[index + 1].channel) : null;
    if (item.parentNode !== list || item.nextSibling !== before) {
      if (before && before.parentNode === list) list.insertBefore(item, before);
      else list.append(item);
    }
  }

  async openByUsername(username) {
    const error = $("sidebar-error");
    error.textContent = "";
    if (!username) return;
    try {
      const peer = await this.findUser(username);
      if (peer.id === this.me.id) throw new Error("that is you");
      this.users.set(peer.id, Promise.resolve(peer));
      const conv = this.conversation(channelOf({ to: peer.id }, this.me.id));
      conv.activity = Math.max(conv.activity, Date.now());
      this.renderItem(conv);
      $("new-chat").value = "";
      this.open(conv);
    } catch (failure) {
      error.textContent = `Cannot open a chat with ${username}: ${describeError(failure)}`;
    }
  }

  async findUser(username) {
    const found = await this.client.api("GET", "/api/users/", undefined, { search: username });
    const match = (found || []).find((u) => u.username.toLowerCase() === username.toLowerCase());
    if (!match) throw new Error("no such user");
    return match;
  }

  toggleGroupForm() {
    const form = $("group-form");
    form.hidden = !form.hidden;
    $("new-group").setAttribute("aria-expanded", String(!form.hidden));
    if (!form.hidden) $("group-name").focus();
  }

  async createGroup() {
    const error = $("sidebar-error");
    error.textContent = "";
    const name = $("group-name").value.trim();
    const names = $("group-members").value.split(",").map((s) => s.trim()).filter(Boolean);
    if (!name) {
      error.textContent = "A group needs a name.";
      return;
    }
    try {
      const members = [];
      for (const username of names) members.push((await this.findUser(username)).id);
      const group = await this.client.api("POST", "/api/groups/", { name, members });
      const conv = this.conversation(`g:${group.id}`);
      conv.title = group.name;
      conv.owner = group.owner;
      conv.activity = Date.now();
      this.renderItem(conv);
      $("group-name").value = "";
      $("group-members").value = "";
      this.toggleGroupForm();
      this.open(conv);
    } catch (failure) {
      error.textContent = `Cannot create the group: ${describeError(failure)}`;
    }
  }

  async addMember() {
    const conv = this.current;
    const input = $("add-member-name");
    const username = input.value.trim();
    $("chat-error").textContent = "";
    if (!conv || conv.kind !== "group" || !username) return;
    try {
      const user = await this.findUser(username);
      await this.client.api("POST", `/api/groups/${conv.group}/members/`, { user_ids: [user.id] });
      input.value = "";
      $("typing").textContent = `${user.display_name || user.username} was added.`;
    } catch (failure) {
      $("chat-error").textContent = `Cannot add ${username}: ${describeError(failure)}`;
    }
  }

  // --- one open conversation ----------------------------------------------------------

  open(conv) {
    const previous = this.current;
    this.current = conv;
    if (previous) this.renderItem(previous);
    $("chat").hidden = false;
    $("main").classList.add("show-chat");
    $("chat-error").textContent = "";
    $("typing").textContent = "";
    this.renderHeader();
    this.renderMessages();
    this.renderItem(conv);
    this.watchPresence();
    $("composer").focus();
    if (!conv.oldestLoaded && conv.lastSeq > 0) this.loadOlder(true);
    else this.fillNewer(conv);
    this.markCurrentRead();
  }

  closeChat() {
    const conv = this.current;
    this.current = null;
    $("main").classList.remove("show-chat");
    clearInterval(this.presenceTimer);
    if (conv) {
      this.renderItem(conv);
      this.items.get(conv.channel)?.firstChild.focus();
    }
  }

  renderHeader() {
    const conv = this.current;
    if (!conv) return;
    $("chat-title").textContent = conv.title;
    $("add-member").hidden = !(conv.kind === "group" && conv.owner === this.me.id);
    if (conv.kind === "group") $("chat-presence").textContent = "";
  }

  watchPresence() {
    clearInterval(this.presenceTimer);
    const conv = this.current;
    if (!conv || conv.kind !== "private") return;
    const poll = async () => {
      if (this.current !== conv || conv.peer === null) return;
      try {
        const answer = await this.client.api("GET", "/api/presence/", undefined, { users: conv.peer });
        const state = answer && answer[String(conv.peer)];
        let text = "";
        if (state && state.online) text = "online";
        else if (state && state.last_seen) text = `last seen ${formatTime(state.last_seen)}`;
        if (this.current === conv) $("chat-presence").textContent = text;
      } catch {
        // presence is a nicety: keep what was shown
      }
    };
    $("chat-presence").textContent = "";
    poll();
    this.presenceTimer = setInterval(poll, PRESENCE_POLL_MS);
  }

  renderMessages() {
    const box = $("messages");
    const conv = this.current;
    box.replaceChildren();
    for (const seq of conv.sortedSeqs()) {
      const message = conv.messages.get(seq);
      if (CONTENT_TYPES.has(message.type)) box.append(this.messageElement(conv, message));
    }
    this.renderPending();
    box.scrollTop = box.scrollHeight;
  }

  messageElement(conv, message) {
    const own = message.from === this.me.id;
    const node = el("article", {
      class: `message${own ? " own" : ""}`, "data-testid": "message", "data-channel": conv.channel,
      "data-seq": message.seq,
    });
    this.fillMessage(conv, node, message);
    return node;
  }

  fillMessage(conv, node, message) {
    const own = message.from === this.me.id;
    const meta = el("div", { class: "meta" });
    const author = el("span", { class: "author" }, own ? "You" : "");
    if (!own) this.userName(message.from).then((name) => { author.textContent = name; });
    meta.append(author, " ", el("time", { datetime: new Date(message.ts).toISOString() }, formatTime(message.ts)));
    if (message.edited) meta.append(" ", el("span", { class: "edited" }, "(edited)"));
    if (own && conv.kind === "private" && message.seq <= conv.peerReadSeq) {
      meta.append(" ", el("span", { class: "read-mark", title: "Read" }, "✓✓"));
    }
    node.replaceChildren(meta, this.messageBody(message));
  }

  messageBody(message) {
    const body = message.body || {};
    if (message.recalled) return el("p", { class: "body recalled" }, "This message was removed.");
    switch (message.type) {
      case "text":
        return el("p", { class: "body" }, body.text || "");
      case "emoji":
        return el("p", { class: "body emoji-body" }, body.emoji || "");
      case "image":
      case "video":
      case "audio":
      case "file":
        return this.mediaBody(message);
      default:
        return el("p", { class: "body" }, "");
    }
  }

  mediaBody(message) {
    const body = message.body || {};
    const info = this.uploads.get(body.media) || {};
    const name = body.name || info.name || "file";
    const size = body.size ?? info.size;
    const wrap = el("div", { class: "body media" });
    if (message.type === "image") {
      const img = el("img", { alt: body.caption || name, loading: "lazy", "data-testid": "image" });
      const w = body.width || info.width;
      const h = body.height || info.height;
      if (w && h) {
        img.width = Math.min(w, 320);
        img.height = Math.round((img.width * h) / w);
      }
      this.mediaLink(body.media).then((url) => { img.src = url; }).catch(() => { img.alt = `${name} (unavailable)`; });
      wrap.append(img);
    } else if (message.type === "video" || message.type === "audio") {
      const player = el(message.type, { controls: true, preload: "metadata", "aria-label": name });
      this.mediaLink(body.media).then((url) => { player.src = url; }).catch(() => {});
      wrap.append(player);
    } else {
      const link = el("a", { href: "#", download: name, class: "download" }, `📎 ${name}`,
        size != null ? el("span", { class: "size" }, ` ${formatSize(size)}`) : null);
      link.addEventListener("click", async (event) => {
        event.preventDefault();
        try {
          const url = await this.mediaLink(body.media, true);
          const a = el("a", { href: url, download: name });
          document.body.append(a);
          a.click();
          a.remove();
        } catch (error) {
          $("chat-error").textContent = `Cannot download ${name}: ${describeError(error)}`;
        }
      });
      wrap.append(link);
    }
    if (body.caption) wrap.append(el("p", { class: "caption" }, body.caption));
    return wrap;
  }

  // A short-lived signed link (GET /api/media/<id>/link/): <img> and downloads cannot
  // carry the token header.
  async mediaLink(mediaId, fresh = false) {
    const known = this.mediaLinks.get(mediaId);
    if (known && !fresh && Date.now() - known.at < LINK_REFRESH_MS) return known.url;
    const answer = await this.client.api("GET", `/api/media/${encodeURIComponent(mediaId)}/link/`);
    const url = new URL(answer.url, this.client.rest.baseUrl + "/").href;
    this.mediaLinks.set(mediaId, { url, at: Date.now() });
    return url;
  }

  // Unacknowledged sends of the open conversation, shown after the stored messages.
  renderPending() {
    const conv = this.current;
    const box = $("messages");
    for (const node of box.querySelectorAll(".message.pending")) node.remove();
    if (!conv || !this.client) return;
    const nearBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 80;
    for (const { frame, channel } of this.client.pendingMessages()) {
      if (channel !== conv.channel || !CONTENT_TYPES.has(frame.type)) continue;
      const node = el("article", { class: "message own pending", "data-testid": "message-pending" },
        el("div", { class: "meta" }, "You · sending…"), this.messageBody({ ...frame, from: this.me.id }));
      box.append(node);
    }
    if (nearBottom) box.scrollTop = box.scrollHeight;
  }

  // Put one stored message on screen in seq order (replacing an older copy).
  showMessage(conv, message) {
    if (this.current !== conv || !CONTENT_TYPES.has(message.type)) return;
    const box = $("messages");
    const existing = box.querySelector(`.message[data-seq="${message.seq}"]`);
    if (existing) {
      this.fillMessage(conv, existing, conv.messages.get(message.seq));
      return;
    }
    const nearBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 80;
    const node = this.messageElement(conv, conv.messages.get(message.seq));
    let next = null;
    for (const other of box.querySelectorAll(".message[data-seq]")) {
      if (Number(other.dataset.seq) > message.seq) {
        next = other;
        break;
      }
    }
    if (!next) next = box.querySelector(".message.pending");
    box.insertBefore(node, next);
    if (nearBottom || message.from === this.me.id) box.scrollTop = box.scrollHeight;
  }

  // A message from history or the SDK into the model (and on screen if open).
  absorb(conv, message) {
    if (CORRECTIONS.has(message.type)) {
      const target = conv.correct(message);
      if (target) this.showMessage(conv, target);
      return false;
    }
    if (!conv.put(message)) return false;
    this.showMessage(conv, message);
    return true;
  }

  async loadOlder(first = false) {
    const conv = this.current;
    if (!conv || this.loadingOlder || conv.historyDone) return;
    this.loadingOlder = true;
    const box = $("messages");
    try {
      const before = first ? Math.max(conv.lastSeq, this.client.tracker.position(conv.channel)) + 1 : conv.oldestLoaded;
      if (!before || before <= 1) {
        conv.historyDone = true;
        return;
      }
      const page = await this.client.history(conv.channel, { before, limit: PAGE });
      const messages = page.messages || [];
      const height = box.scrollHeight;
      const top = box.scrollTop;
      for (const message of messages) this.absorb(conv, message);
      if (messages.length) conv.oldestLoaded = Math.min(conv.oldestLoaded ?? Infinity, messages[0].seq);
      if (!messages.length || messages[0].seq <= (page.first_seq || 1)) conv.historyDone = true;
      if (this.current === conv) {
        box.scrollTop = first ? box.scrollHeight : top + (box.scrollHeight - height);
      }
      this.renderItem(conv);
    } catch (error) {
      $("chat-error").textContent = `Cannot load history: ${describeError(error)}`;
    } finally {
      this.loadingOlder = false;
    }
    if (first) this.fillNewer(conv);
    // A page that does not fill the pane gives nothing to scroll: load on.
    if (this.current === conv && !conv.historyDone && box.scrollHeight <= box.clientHeight + 60) this.loadOlder();
  }

  // Between the newest history page and what the SDK tracks there may be messages
  // stored before this page started following the channel: fetch them.
  async fillNewer(conv) {
    if (!this.client || conv.oldestLoaded === null) return;
    const target = Math.max(conv.lastSeq, this.client.tracker.position(conv.channel));
    let after = conv.highestLoaded();
    try {
      while (after < target) {
        const page = await this.client.history(conv.channel, { after, limit: PAGE });
        const messages = page.messages || [];
        if (!messages.length) break;
        for (const message of messages) this.absorb(conv, message);
        after = messages[messages.length - 1].seq;
      }
    } catch {
      // the next reconnect or resync tries again
    }
  }

  onScroll() {
    const box = $("messages");
    if (box.scrollTop < 60) this.loadOlder();
  }

  // --- events from the SDK ------------------------------------------------------------

  onChannels(channels) {
    for (const [channel, lastSeq] of Object.entries(channels)) {
      const conv = this.conversation(channel);
      if (lastSeq > conv.lastSeq && !conv.lastMessage) {
        conv.lastSeq = lastSeq;
        this.loadLastMessage(conv);
      }
      conv.lastSeq = Math.max(conv.lastSeq, lastSeq);
      this.renderItem(conv);
    }
    if (this.current) this.fillNewer(this.current);
  }

  onMessage(message) {
    const conv = this.conversation(message.channel);
    const added = this.absorb(conv, message);
    if (!added || !CONTENT_TYPES.has(message.type)) {
      this.renderItem(conv);
      return;
    }
    if (message.from === this.me.id) {
      // Sending moves my read position (docs/protocol.md, Conversation state).
      conv.readSeq = Math.max(conv.readSeq, message.seq);
      conv.unread = 0;
      this.saveLocalRead(conv);
    } else if (message.seq > conv.readSeq) {
      if (this.isReading(conv)) this.markRead(conv);
      else conv.unread += 1;
      this.clearTyping(conv, message.from);
    }
    this.renderItem(conv);
  }

  isReading(conv) {
    return this.current === conv && document.visibilityState === "visible";
  }

  markCurrentRead() {
    if (this.current && this.isReading(this.current)) this.markRead(this.current);
  }

  markRead(conv) {
    const seq = Math.max(conv.lastSeq, conv.highestLoaded());
    if (seq > conv.readSeq || conv.unread) {
      conv.readSeq = Math.max(conv.readSeq, seq);
      conv.unread = 0;
      this.saveLocalRead(conv);
      if (this.client && seq > 0) this.client.markRead(conv.channel, seq);
      this.renderItem(conv);
    }
  }

  onRead(frame) {
    const conv = this.conversations.get(frame.channel);
    if (!conv || !Number.isInteger(frame.seq)) return;
    if (frame.user === this.me.id) {
      // Read on another device of mine.
      if (frame.seq > conv.readSeq) {
        conv.readSeq = frame.seq;
        conv.unread = frame.seq >= conv.lastSeq ? 0 : conv.unread;
        this.saveLocalRead(conv);
        this.renderItem(conv);
      }
      return;
    }
    if (conv.kind === "private" && frame.seq > conv.peerReadSeq) {
      conv.peerReadSeq = frame.seq;
      if (this.current === conv) {
        for (const node of $("messages").querySelectorAll(".message.own[data-seq]")) {
          const message = conv.messages.get(Number(node.dataset.seq));
          if (message) this.fillMessage(conv, node, message);
        }
      }
    }
  }

  onTyping(frame) {
    const conv = this.conversations.get(frame.channel);
    if (!conv || frame.user === this.me.id) return;
    const key = `${frame.channel}/${frame.user}`;
    clearTimeout(this.typingTimers.get(key));
    this.typingTimers.set(key, setTimeout(() => this.clearTyping(conv, frame.user), TYPING_SHOW_MS));
    this.renderTyping();
  }

  clearTyping(conv, user) {
    const key = `${conv.channel}/${user}`;
    if (!this.typingTimers.has(key)) return;
    clearTimeout(this.typingTimers.get(key));
    this.typingTimers.delete(key);
    this.renderTyping();
  }

  async renderTyping() {
    const conv = this.current;
    if (!conv) return;
    const prefix = `${conv.channel}/`;
    const users = [...this.typingTimers.keys()].filter((k) => k.startsWith(prefix)).map((k) => Number(k.slice(prefix.length)));
    const names = await Promise.all(users.map((u) => this.userName(u)));
    if (this.current !== conv) return;
    $("typing").textContent = names.length ? `${names.join(", ")} ${names.length > 1 ? "are" : "is"} typing…` : "";
  }

  // --- sending ------------------------------------------------------------------------

  target(conv) {
    return conv.kind === "group" ? { group: conv.group } : { to: conv.peer };
  }

  async submit(type, body) {
    const conv = this.current;
    if (!conv || !this.client) return;
    $("chat-error").textContent = "";
    try {
      await this.client.send({ type, body, ...this.target(conv) });
    } catch (error) {
      if (error instanceof SessionEnded) return;
      $("chat-error").textContent = `Not sent: ${describeError(error)}`;
    }
  }

  sendText() {
    const input = $("composer");
    const text = input.value.trim();
    if (!text) return;
    input.value = "";
    this.typingSentAt = 0;
    this.submit("text", { text });
  }

  sendEmoji(emoji) {
    this.toggleEmoji(false);
    this.submit("emoji", { emoji });
    $("composer").focus();
  }

  toggleEmoji(show) {
    const panel = $("emoji-panel");
    panel.hidden = show === undefined ? !panel.hidden : !show;
    $("emoji-button").setAttribute("aria-expanded", String(!panel.hidden));
    if (!panel.hidden) panel.querySelector("button").focus();
  }

  sendTyping() {
    const conv = this.current;
    if (!conv || !this.client || !$("composer").value) return;
    const t = Date.now();
    if (t - this.typingSentAt < TYPING_SEND_MS) return;
    this.typingSentAt = t;
    this.client.typing(conv.channel);
  }

  async attach(input) {
    const file = input.files && input.files[0];
    input.value = "";
    const conv = this.current;
    if (!file || !conv) return;
    const error = $("chat-error");
    error.textContent = "";
    $("typing").textContent = `Uploading ${file.name}…`;
    try {
      const media = await this.client.upload(file);
      this.uploads.set(media.id, media);
      $("typing").textContent = "";
      const type = ["image", "video", "audio"].includes(media.kind) ? media.kind : "file";
      await this.submit(type, { media: media.id });
    } catch (failure) {
      $("typing").textContent = "";
      error.textContent = `Cannot send ${file.name}: ${describeError(failure)}`;
    }
  }
}

const app = new App();
app.boot();
globalThis.imApp = app; // for debugging from the console
