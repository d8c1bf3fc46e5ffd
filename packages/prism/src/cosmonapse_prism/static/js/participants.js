// Participants: who is on the bus (from REGISTER, DEREGISTER and HEARTBEAT, plus anyone
// seen answering) and who talks to whom (edges counted from each Signal's from/to).
// A participant's dendrite is the node hosting it: `meta.node` of its REGISTER, HEARTBEAT
// or DEREGISTER, else of the Signals it sends.
//
// Delegation shows as edges between neurons (a child TASK goes from the Neuron that
// delegated it, `meta.caller`, to the one it asks: planner -> researcher -> fact). The
// graph puts each neuron in a column by its level, the smallest `meta.depth` of the
// TASKs it was sent (0 for a root TASK), so a tree reads left to right.

import { fmtClock, h, s, setText } from "./dom.js";

const MAX_NODES = 500;
const MAX_EDGES = 2000;
const GRAPH_NODES = 24;
const COLUMN_GAP = 200; // between column centres, with one column of neurons
const TIGHT_GAP = 170; // ... with more than one
const MAX_LEVELS = 4; // columns of neurons; deeper ones share the last
const ROW_GAP = 34; // between node centres in a column
const NODE_W = 112;
const NODE_H = 24;
const TWIN_BOW = 14; // how far the two directions between one pair bend apart
const LABEL_PAD = 1.5; // room kept around each edge count
const LABEL_SPOTS = [0.5, 0.4, 0.6, 0.3, 0.7, 0.2, 0.8, 0.12, 0.88]; // along the edge

export class Participants {
  constructor() {
    this.clear();
  }

  clear() {
    this.nodes = new Map();
    this.edges = new Map();
    this.version = 0;
  }

  clearTraffic() {
    this.edges = new Map();
    for (const n of this.nodes.values()) n.signals = 0;
    this.version++;
  }

  _node(id, role) {
    let n = this.nodes.get(id);
    if (!n) {
      n = { id, role: role ?? null, caps: [], dendrite: null, version: null, status: "seen",
        registered: null, lastSeen: null, heartbeats: 0, signals: 0, inferred: role ?? null,
        level: null };
      this.nodes.set(id, n);
      if (this.nodes.size > MAX_NODES) this._evictNode();
    } else if (role && !n.inferred) {
      n.inferred = role;
    }
    return n;
  }

  _evictNode() {
    for (const [id, n] of this.nodes) {
      if (n.status !== "up") { this.nodes.delete(id); return; }
    }
    this.nodes.delete(this.nodes.keys().next().value);
  }

  observe(e) {
    const p = e.payload;
    const host = typeof e.meta.node === "string" ? e.meta.node : null;
    if (e.type === "REGISTER" && e.who) {
      const n = this._node(e.who);
      n.role = typeof p.role === "string" ? p.role : "neuron";
      n.caps = Array.isArray(p.capabilities) ? p.capabilities.map(String) : e.caps;
      n.version = typeof p.version === "string" ? p.version : null;
      n.dendrite = host ?? n.dendrite;
      n.status = "up";
      n.registered = e.tms;
      n.lastSeen = e.tms;
    } else if (e.type === "DEREGISTER" && e.who) {
      const n = this._node(e.who);
      n.status = "down";
      n.lastSeen = e.tms;
      n.dendrite = host ?? n.dendrite;
    } else if (e.type === "HEARTBEAT" && e.who) {
      const n = this._node(e.who);
      if (n.status !== "down") n.status = "up";
      n.heartbeats++;
      n.lastSeen = e.tms;
      n.dendrite = host ?? n.dendrite;
    } else {
      this._traffic(e);
    }
    this.version++;
  }

  _traffic(e) {
    const { from, to } = e;
    if (from) {
      const n = this._node(from, e.type === "STOPPED" ? "dendrite"
        : e.type === "STOP" || (e.type === "TASK" && !e.parent) ? "orchestrator" : null);
      n.signals++;
      // A Dendrite names itself in meta.node of what it sends (a STOPPED ack names its
      // Dendrite as its sender): the sender lives there, unless its REGISTER said otherwise.
      const node = typeof e.meta.node === "string" ? e.meta.node : e.type === "STOPPED" ? from : null;
      if (node && !n.dendrite) n.dendrite = node;
      if (e.replay === false || n.lastSeen === null) n.lastSeen = Math.max(n.lastSeen ?? 0, e.tms);
    }
    if (to && to !== "all") {
      const role = e.type === "IMPRINT" || e.type === "RECALL" ? "engram"
        : e.type === "TASK" ? "neuron" : null;
      const target = this._node(to, role);
      if (e.type === "TASK") {
        const depth = Number.isInteger(e.meta.depth) && e.meta.depth > 0 ? e.meta.depth : 0;
        target.level = target.level === null ? depth : Math.min(target.level, depth);
      }
    }
    if (!from || !to || to === "all") return;
    const key = `${from}\u0000${to}`;
    let edge = this.edges.get(key);
    if (!edge) {
      edge = { from, to, count: 0, types: new Map(), last: 0 };
      this.edges.set(key, edge);
      if (this.edges.size > MAX_EDGES) this.edges.delete(this.edges.keys().next().value);
    }
    edge.count++;
    edge.types.set(e.type, (edge.types.get(e.type) ?? 0) + 1);
    edge.last = e.tms;
  }

  roleOf(n) {
    return n.role ?? n.inferred ?? "orchestrator";
  }
}

export class ParticipantsView {
  constructor({ graph, table, edges, count }, model) {
    this.els = { graph, table, edges, count };
    this.model = model;
    this.drawn = -1;
  }

  render() {
    const m = this.model;
    if (this.drawn === m.version) return;
    this.drawn = m.version;
    const nodes = Array.from(m.nodes.values());
    const up = nodes.filter((n) => n.status === "up").length;
    setText(this.els.count, `${up} up · ${nodes.length} known`);
    this._table(nodes);
    this._edges();
    this._graph(nodes);
  }

  _table(nodes) {
    const m = this.model;
    const order = { up: 0, seen: 1, down: 2 };
    const sorted = nodes.slice().sort((a, b) =>
      (order[a.status] - order[b.status]) || (a.dendrite ?? "~").localeCompare(b.dendrite ?? "~") ||
      a.id.localeCompare(b.id)).slice(0, 200);
    const rows = sorted.map((n) => h("tr", { data: { participant: n.id, status: n.status, role: m.roleOf(n) } },
      h("td", {}, h("span", { class: "dot", data: { status: n.status }, title: n.status }), h("span", { text: n.id })),
      h("td", { text: m.roleOf(n) }),
      h("td", { text: n.dendrite ?? "" }),
      h("td", { text: n.caps.join(", ") }),
      h("td", { class: "num", text: n.lastSeen ? fmtClock(n.lastSeen) : "" })));
    this.els.table.tBodies[0].replaceChildren(...rows);
  }

  _edges() {
    const edges = Array.from(this.model.edges.values()).sort((a, b) => b.count - a.count).slice(0, 60);
    const rows = edges.map((e) => h("tr", { data: { from: e.from, to: e.to } },
      h("td", { text: e.from }),
      h("td", { text: e.to }),
      h("td", { text: Array.from(e.types.keys()).join(", ") }),
      h("td", { class: "num", text: String(e.count) })));
    this.els.edges.tBodies[0].replaceChildren(...rows);
  }

  _graph(nodes) {
    // Three columns, left to right: who asks (clients, orchestrators), who works
    // (neurons), what remembers (engrams). Busiest nodes win the limited places.
    const m = this.model;
    const svg = this.els.graph;
    const edges = Array.from(m.edges.values()).sort((a, b) => b.count - a.count).slice(0, 80);
    const weight = new Map();
    for (const e of edges) {
      weight.set(e.from, (weight.get(e.from) ?? 0) + e.count);
      weight.set(e.to, (weight.get(e.to) ?? 0) + e.count);
    }
    const chosen = nodes
      .filter((n) => n.status !== "down" || weight.has(n.id))
      .sort((a, b) => (weight.get(b.id) ?? 0) - (weight.get(a.id) ?? 0))
      .slice(0, GRAPH_NODES);
    // Neurons go one column per delegation level (see the top of this file).
    const kind = (n) => {
      const role = m.roleOf(n);
      return role === "engram" ? "engram" : role === "client" || role === "orchestrator" ? "asks" : "works";
    };
    const levelOf = (n) => Math.min(n.level ?? 0, MAX_LEVELS - 1);
    const levels = 1 + Math.max(0, ...chosen.filter((n) => kind(n) === "works").map(levelOf));
    const column = (n) => {
      const k = kind(n);
      return k === "engram" ? levels + 1 : k === "asks" ? 0 : 1 + levelOf(n);
    };
    const cols = Array.from({ length: levels + 2 }, () => []);
    for (const n of chosen) cols[column(n)].push(n);
    const gap = levels > 1 ? TIGHT_GAP : COLUMN_GAP;
    const width = 200 + (cols.length - 1) * gap;
    for (const c of cols) c.sort((a, b) => a.id.localeCompare(b.id));
    const rowsMax = Math.max(1, ...cols.map((c) => c.length));
    const height = Math.max(120, rowsMax * ROW_GAP + 20);
    svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
    const pos = new Map();
    cols.forEach((c, ci) => {
      const x = 100 + ci * gap;
      c.forEach((n, i) => pos.set(n.id, { x, y: ((i + 1) * height) / (c.length + 1) }));
    });
    const defs = s("defs");
    const marker = s("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5,
      markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" });
    marker.append(s("path", { d: "M0,0 L10,5 L0,10 z", class: "arrow" }));
    defs.append(marker);
    const paths = s("g");
    const boxes = s("g");
    const counts = s("g");
    const pairs = new Set(edges.map((e) => `${e.from}\u0000${e.to}`));
    const max = Math.max(1, ...edges.map((e) => e.count));
    const curves = [];
    for (const e of edges) {
      const a = pos.get(e.from);
      const b = pos.get(e.to);
      if (!a || !b) continue;
      const p0 = { x: a.x + (b.x >= a.x ? NODE_W / 2 + 2 : -NODE_W / 2 - 2), y: a.y };
      const p2 = { x: b.x + (b.x >= a.x ? -NODE_W / 2 - 2 : NODE_W / 2 + 2), y: b.y };
      const c = { x: (p0.x + p2.x) / 2 + (a.x === b.x ? 60 : 0), y: (p0.y + p2.y) / 2 - (a.y === b.y ? 14 : 0) };
      if (pairs.has(`${e.to}\u0000${e.from}`)) {
        // Both directions between one pair: bow them to opposite sides.
        const dx = p2.x - p0.x;
        const dy = p2.y - p0.y;
        const len = Math.hypot(dx, dy) || 1;
        c.x += (-dy / len) * TWIN_BOW;
        c.y += (dx / len) * TWIN_BOW;
      }
      const path = s("path", {
        d: `M${p0.x},${p0.y} Q${c.x},${c.y} ${p2.x},${p2.y}`,
        class: "edge",
        "data-from": e.from,
        "data-to": e.to,
        "stroke-width": (1 + 3 * Math.log1p(e.count) / Math.log1p(max)).toFixed(2),
        "marker-end": "url(#arrow)",
      });
      path.append(s("title", {}, `${e.from} → ${e.to}: ${e.count}`));
      paths.append(path);
      const label = s("text", { x: 0, y: 0, class: "edge-label", "text-anchor": "middle" }, String(e.count));
      counts.append(label);
      curves.push({ label, p0, c, p2 });
    }
    const names = [];
    for (const n of chosen) {
      const p = pos.get(n.id);
      const g = s("g", { class: "node", "data-role": m.roleOf(n), "data-status": n.status, "data-id": n.id,
        "data-column": column(n) });
      g.append(s("rect", { x: p.x - NODE_W / 2, y: p.y - NODE_H / 2, width: NODE_W, height: NODE_H, rx: 6 }));
      const text = s("text", { x: p.x, y: p.y + 4, "text-anchor": "middle" }, n.id);
      g.append(text);
      g.append(s("title", {}, `${n.id} (${m.roleOf(n)}${n.dendrite ? ` on ${n.dendrite}` : ""}, ${n.status})`));
      boxes.append(g);
      names.push({ text, id: n.id });
    }
    const ellipsis = s("text", {}, "…");
    const probe = s("g", { class: "node" });
    probe.append(ellipsis);
    boxes.append(probe);
    svg.replaceChildren(defs, paths, boxes, counts);

    // Measure everything first (one layout), then write: long names are cut to fit
    // their box, and each count goes to the first free spot along its edge.
    const cuts = names.map(({ text, id }) => fitText(text, id, NODE_W - 8, ellipsis.getComputedTextLength()));
    const sizes = curves.map(({ label }) => label.getBBox());
    probe.remove();
    names.forEach(({ text }, i) => { if (cuts[i] !== null) text.textContent = cuts[i]; });
    const taken = chosen.map((n) => {
      const p = pos.get(n.id);
      return { x: p.x - NODE_W / 2, y: p.y - NODE_H / 2, w: NODE_W, h: NODE_H };
    });
    const bounds = { x: 0, y: 0, w: width, h: height };
    curves.forEach(({ label, p0, c, p2 }, i) => {
      const size = sizes[i];
      for (const t of LABEL_SPOTS) {
        const x = (1 - t) * (1 - t) * p0.x + 2 * (1 - t) * t * c.x + t * t * p2.x;
        const y = (1 - t) * (1 - t) * p0.y + 2 * (1 - t) * t * c.y + t * t * p2.y;
        const box = { x: x + size.x - LABEL_PAD, y: y + size.y - LABEL_PAD,
          w: size.width + 2 * LABEL_PAD, h: size.height + 2 * LABEL_PAD };
        if (inside(box, bounds) && !taken.some((other) => overlaps(box, other))) {
          label.setAttribute("x", x.toFixed(1));
          label.setAttribute("y", y.toFixed(1));
          taken.push(box);
          return;
        }
      }
      label.remove(); // no free spot: the count stays in the edge's tooltip
    });
  }
}

/** The longest prefix of `full` that fits in `room` with an ellipsis, or null if all fits. */
function fitText(text, full, room, ellipsisWidth) {
  if (text.getComputedTextLength() <= room) return null;
  let lo = 0;
  let hi = full.length;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (text.getSubStringLength(0, mid) + ellipsisWidth <= room) lo = mid;
    else hi = mid - 1;
  }
  const cut = /[\uD800-\uDBFF]/.test(full[lo - 1] ?? "") ? lo - 1 : lo; // keep surrogate pairs whole
  return `${full.slice(0, cut)}…`;
}

function overlaps(a, b) {
  return a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
}

function inside(a, b) {
  return a.x >= b.x && a.y >= b.y && a.x + a.w <= b.x + b.w && a.y + a.h <= b.y + b.h;
}
