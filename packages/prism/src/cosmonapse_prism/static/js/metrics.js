// Metrics: Signals per second by type, TASK-to-reply latency per neuron (p50/p95),
// errors, retries (meta.attempt > 1), stops and rollbacks (STOPPED.compensated > 0).
//
// Rates use the time the page received each Signal, so replayed history and clock skew
// between hosts do not distort them; latencies use the Signals' own timestamps.

import { fmtCount, fmtMs, h, s, setText } from "./dom.js";
import { REPLY_TYPES } from "./model.js";

const WINDOW_S = 60;
const RATE_SPAN_S = 5;
const MAX_PENDING_TASKS = 20000;
const SAMPLES = 512;

export class Metrics {
  constructor() {
    this.clear();
  }

  clear() {
    this.signals = 0;
    this.byType = new Map();
    this.buckets = new Map(); // whole second -> {total, types: Map}
    this.pending = new Map(); // TASK id -> {neuron, tms}
    this.neurons = new Map(); // neuron -> {samples, next, n, errors}
    this.traces = new Set();
    this.errors = 0;
    this.retries = 0;
    this.stops = 0;
    this.rollbacks = 0;
    this.compensated = 0;
    this.version = 0;
  }

  add(e) {
    this.signals++;
    this.byType.set(e.type, (this.byType.get(e.type) ?? 0) + 1);
    if (!e.replay) this._count(e);
    if (e.type !== "HEARTBEAT" && e.type !== "REGISTER" && e.type !== "DEREGISTER") {
      this.traces.add(e.trace);
      if (this.traces.size > 100000) this.traces = new Set();
    }
    switch (e.type) {
      case "TASK": {
        const attempt = e.meta.attempt;
        if (typeof attempt === "number" && attempt > 1) this.retries++;
        this.pending.set(e.id, { neuron: e.who ?? e.to ?? "?", tms: e.tms });
        if (this.pending.size > MAX_PENDING_TASKS) this.pending.delete(this.pending.keys().next().value);
        break;
      }
      case "STOP":
        this.stops++;
        break;
      case "STOPPED": {
        const n = Number(e.payload.compensated);
        if (Number.isFinite(n) && n > 0) {
          this.rollbacks++;
          this.compensated += n;
        }
        break;
      }
      default:
    }
    if (e.type === "ERROR") this.errors++;
    if (REPLY_TYPES.has(e.type) && e.parent) {
      const task = this.pending.get(e.parent);
      if (task) {
        this.pending.delete(e.parent);
        const stat = this._neuron(task.neuron);
        const took = e.tms - task.tms;
        if (Number.isFinite(took)) {
          stat.samples[stat.next] = took;
          stat.next = (stat.next + 1) % SAMPLES;
          stat.n++;
        }
        if (e.type === "ERROR") stat.errors++;
      } else if (e.type === "ERROR" && e.who) {
        this._neuron(e.who).errors++;
      }
    }
    this.version++;
  }

  _neuron(name) {
    let stat = this.neurons.get(name);
    if (!stat) {
      stat = { samples: [], next: 0, n: 0, errors: 0 };
      this.neurons.set(name, stat);
      if (this.neurons.size > 500) this.neurons.delete(this.neurons.keys().next().value);
    }
    return stat;
  }

  _count(e) {
    const sec = Math.floor(e.rx / 1000);
    let b = this.buckets.get(sec);
    if (!b) {
      b = { total: 0, types: new Map() };
      this.buckets.set(sec, b);
      for (const old of this.buckets.keys()) {
        if (old > sec - WINDOW_S) break;
        this.buckets.delete(old);
      }
    }
    b.total++;
    b.types.set(e.type, (b.types.get(e.type) ?? 0) + 1);
  }

  /** Signals per second over the last few seconds: {total, byType: Map}. */
  rates(now) {
    const nowSec = Math.floor(now / 1000);
    const elapsed = RATE_SPAN_S - 1 + (now / 1000 - nowSec);
    const byType = new Map();
    let total = 0;
    for (let sec = nowSec - RATE_SPAN_S + 1; sec <= nowSec; sec++) {
      const b = this.buckets.get(sec);
      if (!b) continue;
      total += b.total;
      for (const [t, n] of b.types) byType.set(t, (byType.get(t) ?? 0) + n);
    }
    for (const [t, n] of byType) byType.set(t, n / elapsed);
    return { total: total / elapsed, byType };
  }

  series(now) {
    const nowSec = Math.floor(now / 1000);
    const out = [];
    for (let sec = nowSec - WINDOW_S + 1; sec <= nowSec; sec++) out.push(this.buckets.get(sec)?.total ?? 0);
    return out;
  }
}

export function percentile(sorted, q) {
  if (!sorted.length) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i];
}

export class MetricsView {
  constructor({ tiles, sparkline, rateTable, latencyTable }, metrics) {
    this.els = { tiles, sparkline, rateTable, latencyTable };
    this.metrics = metrics;
  }

  tile(name, value) {
    const el = this.els.tiles.querySelector(`[data-metric="${name}"] .value`);
    if (el) setText(el, value);
  }

  render(now) {
    const m = this.metrics;
    const rates = m.rates(now);
    this.tile("rate", rates.total < 10 ? rates.total.toFixed(1) : String(Math.round(rates.total)));
    this.tile("signals", fmtCount(m.signals));
    this.tile("traces", fmtCount(m.traces.size));
    this.tile("errors", fmtCount(m.errors));
    this.tile("retries", fmtCount(m.retries));
    this.tile("stops", fmtCount(m.stops));
    this.tile("rollbacks", fmtCount(m.rollbacks));
    this.tile("compensated", fmtCount(m.compensated));
    for (const [name, bad] of [["errors", m.errors], ["rollbacks", m.rollbacks]]) {
      this.els.tiles.querySelector(`[data-metric="${name}"]`)?.classList.toggle("alert", bad > 0);
    }
    this._sparkline(m.series(now));
    if (this.drawnVersion === m.version && this.drawnSec === Math.floor(now / 1000)) return rates;
    this.drawnVersion = m.version;
    this.drawnSec = Math.floor(now / 1000);
    this._rateTable(rates);
    this._latencyTable();
    return rates;
  }

  _rateTable(rates) {
    const m = this.metrics;
    const rows = Array.from(m.byType.entries()).sort((a, b) => b[1] - a[1]).map(([type, total]) => {
      const r = rates.byType.get(type) ?? 0;
      return h("tr", { data: { type } },
        h("td", {}, h("span", { class: "badge", data: { type }, text: type })),
        h("td", { class: "num", text: r < 10 ? r.toFixed(1) : String(Math.round(r)) }),
        h("td", { class: "num", text: fmtCount(total) }));
    });
    this.els.rateTable.tBodies[0].replaceChildren(...rows);
  }

  _latencyTable() {
    const rows = [];
    const names = Array.from(this.metrics.neurons.keys()).sort();
    for (const name of names) {
      const stat = this.metrics.neurons.get(name);
      const sorted = stat.samples.slice().sort((a, b) => a - b);
      rows.push(h("tr", { data: { neuron: name } },
        h("td", { text: name }),
        h("td", { class: "num", text: fmtCount(stat.n) }),
        h("td", { class: "num p50", text: fmtMs(percentile(sorted, 0.5)) }),
        h("td", { class: "num p95", text: fmtMs(percentile(sorted, 0.95)) }),
        h("td", { class: `num${stat.errors ? " bad" : ""}`, text: String(stat.errors) })));
    }
    this.els.latencyTable.tBodies[0].replaceChildren(...rows);
  }

  _sparkline(series) {
    const svg = this.els.sparkline;
    const max = Math.max(1, ...series);
    const step = 300 / (series.length - 1);
    const points = series.map((v, i) => `${(i * step).toFixed(1)},${(38 - (v / max) * 34).toFixed(1)}`).join(" ");
    const line = svg.firstChild ?? svg.appendChild(s("polyline", { class: "spark" }));
    line.setAttribute("points", points);
    let label = svg.querySelector("text");
    if (!label) label = svg.appendChild(s("text", { x: 2, y: 9, "text-anchor": "start", class: "spark-label" }));
    setText(label, `peak ${max}/s`);
  }
}
