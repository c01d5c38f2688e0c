// Per-channel sequence tracking: de-duplication, reordering and gap detection.
//
// No I/O (the same algorithm as the Python SDK's imclient/tracker.py): messages go
// in from any source (push, ack, sync) in any order and any number of times; each
// (channel, seq) comes out once, in seq order, as soon as every lower seq of its
// channel has come out. A hole is reported with its age, so the caller can wait a
// reorder window and then pull it.

export class SeqTracker {
  constructor(clock = () => performance.now()) {
    this.clock = clock;
    this.channels = new Map(); // channel -> {position, pending: Map(seq -> item), gapSince}
  }

  state(channel) {
    let state = this.channels.get(channel);
    if (!state) {
      state = { position: 0, pending: new Map(), gapSince: null };
      this.channels.set(channel, state);
    }
    return state;
  }

  has(channel) {
    return this.channels.has(channel);
  }

  // The last contiguous seq handled in `channel` (0 for an unknown channel).
  position(channel) {
    const state = this.channels.get(channel);
    return state ? state.position : 0;
  }

  // Take one message ({channel, seq, ...}); return what it releases, in seq order.
  offer(message, own = false) {
    const state = this.state(message.channel);
    if (message.seq <= state.position || state.pending.has(message.seq)) return [];
    state.pending.set(message.seq, { message, own });
    return this.release(state);
  }

  // Treat every seq <= `seq` as handled (a baseline); return what becomes releasable.
  advanceTo(channel, seq) {
    const state = this.state(channel);
    if (seq > state.position) {
      state.position = seq;
      for (const stale of [...state.pending.keys()]) if (stale <= seq) state.pending.delete(stale);
    }
    return this.release(state);
  }

  forget(channel) {
    this.channels.delete(channel);
  }

  hasGap(channel) {
    const state = this.channels.get(channel);
    return Boolean(state && state.pending.size);
  }

  // Start the reorder window of the channel's hole again from now.
  restartGap(channel) {
    const state = this.channels.get(channel);
    if (state && state.pending.size) state.gapSince = this.clock();
  }

  // Channels holding a hole for at least `windowMs`.
  gaps(windowMs) {
    const now = this.clock();
    const out = [];
    for (const [name, state] of this.channels) {
      if (state.gapSince !== null && now - state.gapSince >= windowMs) out.push(name);
    }
    return out;
  }

  // The clock time when the oldest current hole becomes `windowMs` old, or null.
  nextGapDeadline(windowMs) {
    let oldest = null;
    for (const state of this.channels.values()) {
      if (state.gapSince !== null && (oldest === null || state.gapSince < oldest)) oldest = state.gapSince;
    }
    return oldest === null ? null : oldest + windowMs;
  }

  release(state) {
    const out = [];
    for (;;) {
      const item = state.pending.get(state.position + 1);
      if (item === undefined) break;
      state.pending.delete(state.position + 1);
      state.position += 1;
      out.push(item);
    }
    if (!state.pending.size) state.gapSince = null;
    else if (out.length || state.gapSince === null) state.gapSince = this.clock();
    return out;
  }
}
