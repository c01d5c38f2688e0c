// The app's model of the user's conversations: what each holds, its unread count,
// its last message. No DOM here.

export const CONTENT_TYPES = new Set(["text", "emoji", "image", "video", "audio", "file"]);
export const CORRECTIONS = new Set(["edit", "recall"]);

export class Conversation {
  constructor(channel) {
    this.channel = channel;
    const [kind, a, b] = channel.split(":");
    this.kind = kind === "g" ? "group" : "private";
    this.group = kind === "g" ? Number(a) : null;
    this.members = kind === "p" ? [Number(a), Number(b)] : null;
    this.peer = null; // set by the app for a private channel
    this.title = channel;
    this.owner = null;
    this.lastSeq = 0;
    this.readSeq = 0; // mine
    this.peerReadSeq = 0; // the peer's, from `read` frames (private channels)
    this.unread = 0;
    this.lastMessage = null;
    this.messages = new Map(); // seq -> message frame
    this.oldestLoaded = null; // the lowest seq loaded from history
    this.historyDone = false; // no older page left
    this.activity = 0; // for ordering the list
  }

  // Add a stored message; returns false if that seq was already there (no change)
  // unless the new copy is a newer state (edited/recalled) of the same message.
  put(message) {
    const known = this.messages.get(message.seq);
    if (known && (known.edited || 0) >= (message.edited || 0) && (known.recalled || 0) >= (message.recalled || 0)) {
      return false;
    }
    this.messages.set(message.seq, known ? { ...known, ...message } : message);
    if (message.seq > this.lastSeq) this.lastSeq = message.seq;
    if (CONTENT_TYPES.has(message.type) && (!this.lastMessage || message.seq >= this.lastMessage.seq)) {
      this.lastMessage = this.messages.get(message.seq);
      this.activity = Math.max(this.activity, message.ts || 0);
    }
    return true;
  }

  // An edit or recall message: apply it to its target; returns the target if changed.
  correct(message) {
    this.put(message);
    const target = this.messages.get(message.target);
    if (!target) return null;
    if (message.type === "edit") {
      if (target.recalled) return null;
      target.body = { ...target.body, ...message.body };
      target.edited = message.ts;
    } else {
      target.body = {};
      target.recalled = message.ts;
    }
    return target;
  }

  sortedSeqs() {
    return [...this.messages.keys()].sort((x, y) => x - y);
  }

  highestLoaded() {
    let top = 0;
    for (const seq of this.messages.keys()) if (seq > top) top = seq;
    return top;
  }
}

export function preview(message) {
  if (!message) return "";
  const body = message.body || {};
  if (message.recalled) return "message removed";
  switch (message.type) {
    case "text":
      return body.text || "";
    case "emoji":
      return body.emoji || "";
    case "image":
      return "📷 Photo";
    case "video":
      return "🎬 Video";
    case "audio":
      return "🎵 Audio";
    case "file":
      return `📎 ${body.name || "File"}`;
    default:
      return "";
  }
}
