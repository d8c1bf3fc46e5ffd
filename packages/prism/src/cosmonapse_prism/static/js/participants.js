// Participants: who is on the bus (from REGISTER, DEREGISTER and HEARTBEAT, plus anyone
// seen answering) and who talks to whom (edges counted from each Signal's from/to).

import { fmtClock, h, s, setText } from "./dom.js";

const MAX_NODES = 500;
const MAX_EDGES = 2000;
const GRAPH_NODES = 24;

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
        registered: null, lastSeen: null, heartbeats: 0, signals: 0, inferred: role ?? null };
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
      if (e.replay === false || n.lastSeen === null) n.lastSeen = Math.max(n.lastSeen ?? 0, e.tms);
    }
    if (to && to !== "all") {
      const role = e.type === "IMPRINT" || e.type === "RECALL" ? "engram"
        : e.type === "TASK" ? "neuron" : null;
      this._node(to, role);
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
    const column = (n) => {
      const role = m.roleOf(n);
      if (role === "engram") return 2;
      if (role === "client" || role === "orchestrator") return 0;
      return 1;
    };
    const cols = [[], [], []];
    for (const n of chosen) cols[column(n)].push(n);
    for (const c of cols) c.sort((a, b) => a.id.localeCompare(b.id));
    const width = 600;
    const rowsMax = Math.max(1, ...cols.map((c) => c.length));
    const height = Math.max(120, rowsMax * 34 + 20);
    svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
    const pos = new Map();
    cols.forEach((c, ci) => {
      const x = 100 + ci * 200;
      c.forEach((n, i) => pos.set(n.id, { x, y: ((i + 1) * height) / (c.length + 1) }));
    });
    const defs = s("defs");
    const marker = s("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5,
      markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" });
    marker.append(s("path", { d: "M0,0 L10,5 L0,10 z", class: "arrow" }));
    defs.append(marker);
    const layer = s("g");
    const max = Math.max(1, ...edges.map((e) => e.count));
    for (const e of edges) {
      const a = pos.get(e.from);
      const b = pos.get(e.to);
      if (!a || !b) continue;
      const x1 = a.x + (b.x >= a.x ? 58 : -58);
      const x2 = b.x + (b.x >= a.x ? -58 : 58);
      const bend = a.x === b.x ? 60 : 0;
      const mx = (x1 + x2) / 2 + bend;
      const my = (a.y + b.y) / 2 - (a.y === b.y ? 14 : 0);
      const path = s("path", {
        d: `M${x1},${a.y} Q${mx},${my} ${x2},${b.y}`,
        class: "edge",
        "stroke-width": (1 + 3 * Math.log1p(e.count) / Math.log1p(max)).toFixed(2),
        "marker-end": "url(#arrow)",
      });
      path.append(s("title", {}, `${e.from} → ${e.to}: ${e.count}`));
      layer.append(path);
      layer.append(s("text", { x: mx, y: my - 3, class: "edge-label", "text-anchor": "middle" }, String(e.count)));
    }
    for (const n of chosen) {
      const p = pos.get(n.id);
      const g = s("g", { class: "node", "data-role": m.roleOf(n), "data-status": n.status });
      g.append(s("rect", { x: p.x - 56, y: p.y - 12, width: 112, height: 24, rx: 6 }));
      const label = n.id.length > 16 ? `${n.id.slice(0, 15)}…` : n.id;
      g.append(s("text", { x: p.x, y: p.y + 4, "text-anchor": "middle" }, label));
      g.append(s("title", {}, `${n.id} (${m.roleOf(n)}${n.dendrite ? ` on ${n.dendrite}` : ""}, ${n.status})`));
      layer.append(g);
    }
    svg.replaceChildren(defs, layer);
  }
}
