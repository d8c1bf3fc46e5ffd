// Traces: Signals grouped by trace_id and nested by parent_id, with timings.
//
// Every Signal but membership chatter (REGISTER, DEREGISTER, HEARTBEAT) belongs to a
// trace. The store keeps the `maxTraces` most recently active traces, in order of
// latest activity: a trace moves to the end whenever one of its Signals arrives, so the
// last one is the trace whose newest Signal arrived last, whether it came live or in the
// history replayed to a tab opened late. At most `maxPerTrace` Signals are kept per trace
// (the rest are counted). The view lists the most recent traces and draws the selected
// one as a tree: each row shows when the Signal happened relative to the trace's first
// Signal and how long its first reply took, plus a waterfall bar on the trace's time axis.
//
// Delegation nests by the same rule: a child TASK's parent is the TASK whose Neuron
// delegated it, so planner -> researcher -> fact reads as a tree, each reply under the
// TASK it answers. A TASK is open until a reply to it arrives; a STOP of the trace cuts
// the TASKs still open when it arrives (a run the STOP cancelled never answers): their
// rows get the class `cut`, a struck-through route and a "✂ cut" mark (titled "cut by
// STOP") where the reply's time would be; the trace's summary counts them.

import { fmtMs, h, setText, shortId } from "./dom.js";
import { MEMBERSHIP_TYPES, REPLY_TYPES, summary } from "./model.js";

const MAX_TREE_ROWS = 400;
const MAX_DEPTH = 32;
const RECENT = 30;

export class TraceStore {
  constructor({ maxTraces = 500, maxPerTrace = 1000 } = {}) {
    this.maxTraces = maxTraces;
    this.maxPerTrace = maxPerTrace;
    this.clear();
  }

  clear() {
    this.traces = new Map(); // trace id -> trace, least recently active first
    this.latest = null; // id of the trace whose newest Signal arrived last
    this.version = 0;
  }

  add(e) {
    if (MEMBERSHIP_TYPES.has(e.type)) return;
    let t = this.traces.get(e.trace);
    if (t) {
      this.traces.delete(e.trace); // re-inserted below, at the end
    } else {
      t = { id: e.trace, entries: [], ids: new Set(), first: e.tms, last: e.tms,
        status: null, dropped: 0, version: 0, label: null, kind: e.type,
        open: new Set(), cut: new Set() };
    }
    this.traces.set(e.trace, t);
    if (this.traces.size > this.maxTraces) this.traces.delete(this.traces.keys().next().value);
    this.latest = t.id;
    if (t.entries.length >= this.maxPerTrace) {
      t.dropped++;
    } else {
      t.entries.push(e);
      t.ids.add(e.id);
    }
    if (e.tms < t.first) t.first = e.tms;
    if (e.tms > t.last) t.last = e.tms;
    if (t.label === null && e.type === "TASK") t.label = e.to;
    if (e.type === "TASK") {
      // only kept TASKs (the sets stay as bounded as the trace's entries)
      if (t.ids.has(e.id) && !t.cut.has(e.id)) t.open.add(e.id);
    } else if (REPLY_TYPES.has(e.type) && e.parent) {
      t.open.delete(e.parent);
    } else if (e.type === "STOP") {
      for (const id of t.open) t.cut.add(id);
      t.open.clear();
    }
    if (e.type === "FINAL") t.status = "final";
    else if (e.type === "ERROR" && t.status !== "final") t.status = "error";
    else if (e.type === "STOP" || e.type === "STOPPED") t.status = t.status === "final" ? t.status : "stopped";
    else if (e.type === "AGENT_OUTPUT" && t.status === null) t.status = "output";
    t.version++;
    this.version++;
  }

  /** The `limit` most recently active traces, newest first, and how many are kept. */
  recent(limit) {
    const all = Array.from(this.traces.values());
    return { items: all.slice(-limit).reverse(), total: all.length };
  }
}

export class TraceView {
  constructor({ list, tree, title, summary: summaryEl, count, follow }, store, { onSelectSignal }) {
    this.els = { list, tree, title, summary: summaryEl, count, follow };
    this.store = store;
    this.onSelectSignal = onSelectSignal;
    this.selected = null; // null: follow the latest trace
    this.drawn = { id: null, version: -1, listVersion: -1 };
    list.addEventListener("click", (ev) => {
      const item = ev.target.closest("[data-trace]");
      if (item) this.show(item.dataset.trace);
    });
    tree.addEventListener("click", (ev) => {
      const row = ev.target.closest(".trow");
      if (row && row.entry) this.onSelectSignal(row.entry);
    });
    follow.addEventListener("click", () => this.show(null));
  }

  /** Show trace `id`, or follow the latest one when null. */
  show(id) {
    this.selected = id;
    this.els.follow.setAttribute("aria-pressed", String(id === null));
    this.drawn.version = -1;
    this.drawn.listVersion = -1;
    this.render();
  }

  get current() {
    return this.selected ?? this.store.latest;
  }

  render() {
    const store = this.store;
    if (this.drawn.listVersion !== store.version) {
      this.drawn.listVersion = store.version;
      this._renderList();
    }
    const id = this.current;
    const t = id ? store.traces.get(id) : null;
    if (!t) {
      if (this.drawn.id !== null || this.drawn.version !== 0) {
        this.els.tree.replaceChildren(h("p", { class: "empty", text: id ? "This trace was cleared." : "No trace yet." }));
        setText(this.els.title, id ? shortId(id) : "none yet");
        setText(this.els.summary, "");
        this.els.tree.dataset.trace = "";
        this.drawn.id = null;
        this.drawn.version = 0;
      }
      return;
    }
    if (this.drawn.id === t.id && this.drawn.version === t.version) return;
    this.drawn.id = t.id;
    this.drawn.version = t.version;
    this._renderTree(t);
  }

  _renderList() {
    const { items, total } = this.store.recent(RECENT);
    setText(this.els.count, items.length < total ? `latest ${items.length} of ${total}` : `${total} shown`);
    const current = this.current;
    const buttons = items.map((t) => h("button", {
      class: `trace-item${t.id === current ? " selected" : ""}`,
      data: { trace: t.id, status: t.status ?? "open" },
      attrs: { type: "button", role: "option", "aria-selected": String(t.id === current) },
      title: t.id,
    },
    h("code", { text: shortId(t.id) }),
    h("span", { class: "t-label", text: t.label ?? t.kind }),
    h("span", { class: "t-n", text: `${t.entries.length + t.dropped}` }),
    h("span", { class: "t-dur", text: fmtMs(t.last - t.first) }),
    h("span", { class: "t-status", text: t.status ?? "open" })));
    this.els.list.replaceChildren(...buttons);
  }

  _renderTree(t) {
    setText(this.els.title, t.id);
    this.els.tree.dataset.trace = t.id;
    const span = Math.max(t.last - t.first, 0.001);
    setText(this.els.summary,
      `${t.entries.length} signals · ${fmtMs(t.last - t.first)}${t.status ? ` · ${t.status}` : ""}` +
      (t.cut.size ? ` · ${t.cut.size} cut by STOP` : "") +
      (t.dropped ? ` · ${t.dropped} not kept` : ""));
    const children = new Map();
    const roots = [];
    for (const e of t.entries) {
      if (e.parent && t.ids.has(e.parent)) {
        let list = children.get(e.parent);
        if (!list) children.set(e.parent, (list = []));
        list.push(e);
      } else {
        roots.push(e);
      }
    }
    const byTime = (a, b) => a.tms - b.tms;
    roots.sort(byTime);
    for (const list of children.values()) list.sort(byTime);
    const rows = [];
    const stack = roots.slice().reverse().map((e) => [e, 0]);
    while (stack.length && rows.length < MAX_TREE_ROWS) {
      const [e, depth] = stack.pop();
      const kids = children.get(e.id) ?? [];
      rows.push(this._row(e, depth, kids, t.first, span, t.cut.has(e.id)));
      for (let i = kids.length - 1; i >= 0; i--) stack.push([kids[i], Math.min(depth + 1, MAX_DEPTH)]);
    }
    if (rows.length >= MAX_TREE_ROWS) {
      rows.push(h("p", { class: "muted", text: `… only the first ${MAX_TREE_ROWS} rows are drawn` }));
    }
    this.els.tree.replaceChildren(...rows);
  }

  _row(e, depth, kids, t0, span, cut) {
    const offset = e.tms - t0;
    const reply = kids.find((k) => REPLY_TYPES.has(k.type)) ?? kids[0];
    const took = reply ? reply.tms - e.tms : null;
    const bar = h("span", { class: "bar" });
    bar.style.left = `${(offset / span) * 100}%`;
    bar.style.width = took !== null ? `${Math.max((took / span) * 100, 0.6)}%` : "0.6%";
    const row = h("div", {
      class: cut ? "trow cut" : "trow",
      data: { type: e.type, id: e.id, depth, ...(cut ? { cut: "stop" } : {}) },
      attrs: { role: "treeitem", "aria-level": String(depth + 1) },
      title: `${e.id}\n${summary(e)}${cut ? "\ncut by STOP: it was still running, and never answered" : ""}`,
    },
    h("span", { class: "t-indent" }),
    h("span", { class: "badge", data: { type: e.type }, text: e.type }),
    h("span", { class: "t-who" },
      h("span", { class: "t-route", text: e.to ? `${e.from ?? "?"} → ${e.to}` : (e.from ?? e.who ?? "") })),
    h("span", { class: "t-at", text: `+${fmtMs(offset)}` }),
    // A cut TASK never answered: its mark stands where the reply's time would.
    cut
      ? h("span", { class: "t-took" }, h("span", { class: "cut-mark", text: "✂ cut", title: "cut by STOP" }))
      : h("span", { class: "t-took", text: took !== null ? `↳ ${fmtMs(took)}` : "" }),
    h("span", { class: "waterfall" }, bar));
    row.style.setProperty("--depth", String(depth));
    row.entry = e;
    return row;
  }
}
