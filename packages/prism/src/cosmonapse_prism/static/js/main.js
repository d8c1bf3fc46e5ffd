// Prism's page: connects to /events, feeds every Signal to the list, traces,
// participants and metrics, and draws at most once per animation frame.
//
// Incoming Signals update bounded in-memory models right away (cheap); drawing happens
// in requestAnimationFrame: the list every frame it changed, the heavier panels four
// times a second. Nothing from the bus is ever inserted as markup.

import { $, fmtCount, h, setText } from "./dom.js";
import { ListView } from "./listview.js";
import { SignalLog } from "./log.js";
import { Metrics, MetricsView } from "./metrics.js";
import { makeEntry, route, searchText, SIGNAL_TYPES } from "./model.js";
import { Participants, ParticipantsView } from "./participants.js";
import { initTheme } from "./theme.js";
import { TraceStore, TraceView } from "./traces.js";

const INDEX_CAPACITY = 30000; // ids remembered for de-duplication and parent lookup
const PANEL_INTERVAL_MS = 250;

const state = {
  received: 0,
  serverDropped: 0,
  stats: null,
  conn: "connecting",
  panelsAt: 0,
  clearedDropped: 0,
};

const index = new Map();
const log = new SignalLog();
const traces = new TraceStore();
const participants = new Participants();
const metrics = new Metrics();

const detail = { box: $("detail"), id: $("detail-id"), json: $("detail-json") };

function showDetail(entry) {
  if (!entry) {
    detail.box.hidden = true;
    return;
  }
  setText(detail.id, entry.id);
  setText(detail.json, JSON.stringify(entry.sig, null, 2));
  detail.box.hidden = false;
}

const listView = new ListView($("list"), $("list-count"), log, {
  onSelect(entry) {
    showDetail(entry);
    if (entry) traceView.show(entry.trace);
  },
});

const traceView = new TraceView({
  list: $("trace-list"), tree: $("trace-tree"), title: $("trace-selected"),
  summary: $("trace-summary"), count: $("trace-count"), follow: $("trace-follow"),
}, traces, { onSelectSignal: (entry) => listView.select(entry) });

const participantsView = new ParticipantsView({
  graph: $("graph"), table: $("participant-table"), edges: $("edge-table"), count: $("participant-count"),
}, participants);

const metricsView = new MetricsView({
  tiles: document.querySelector(".tiles"), sparkline: $("sparkline"),
  rateTable: $("rate-table"), latencyTable: $("latency-table"),
}, metrics);

// -- ingest ------------------------------------------------------------------------

function ingest(signals, replay) {
  if (!Array.isArray(signals)) return;
  const now = performance.timeOrigin + performance.now();
  for (const sig of signals) {
    if (!sig || typeof sig.id !== "string" || index.has(sig.id)) continue;
    const entry = makeEntry(sig, replay, now);
    route(entry, entry.parent ? index.get(entry.parent) : undefined);
    index.set(entry.id, entry);
    if (index.size > INDEX_CAPACITY) index.delete(index.keys().next().value);
    state.received++;
    participants.observe(entry);
    traces.add(entry);
    metrics.add(entry);
    log.add(entry);
  }
}

function parse(ev) {
  try {
    return JSON.parse(ev.data);
  } catch {
    return null;
  }
}

function connect() {
  const source = new EventSource("/events");
  source.addEventListener("open", () => setConn("live"));
  source.addEventListener("error", () => setConn(source.readyState === EventSource.CLOSED ? "closed" : "reconnecting"));
  source.addEventListener("hello", (ev) => {
    const hello = parse(ev);
    if (!hello) return;
    setText($("namespace"), hello.namespace ?? "?");
    setText($("synapse"), hello.synapse ?? "?");
    document.title = `Prism · ${hello.namespace ?? ""}`;
    setConn("live");
  });
  source.addEventListener("replay", (ev) => ingest(parse(ev)?.signals, true));
  source.addEventListener("signals", (ev) => {
    const batch = parse(ev);
    if (!batch) return;
    if (Number.isFinite(batch.dropped)) state.serverDropped = Math.max(state.serverDropped, batch.dropped);
    ingest(batch.signals, false);
  });
  source.addEventListener("stats", (ev) => {
    const stats = parse(ev);
    if (!stats) return;
    state.stats = stats;
    if (Number.isFinite(stats.feed_dropped)) state.serverDropped = Math.max(state.serverDropped, stats.feed_dropped);
  });
}

function setConn(conn) {
  state.conn = conn;
  const pill = $("conn");
  pill.dataset.state = conn;
  setText(pill, conn);
}

// -- controls ------------------------------------------------------------------------

/** The filter in the form: its predicate (null: show all) and the values it was built from. */
function buildFilter() {
  const values = ["f-type", "f-trace", "f-neuron", "f-text"].map((id) => $(id).value.trim());
  const key = JSON.stringify(values);
  const [type, trace, neuron, text] = values.map((v) => v.toLowerCase());
  if (!type && !trace && !neuron && !text) return { fn: null, key };
  const fn = (e) =>
    (!type || e.type.toLowerCase() === type) &&
    (!trace || e.trace.toLowerCase().includes(trace)) &&
    (!neuron || [e.who, e.from, e.to].some((v) => v && v.toLowerCase().includes(neuron))) &&
    (!text || searchText(e).includes(text));
  return { fn, key };
}

function initControls() {
  const select = $("f-type");
  for (const type of SIGNAL_TYPES) select.append(h("option", { text: type, attrs: { value: type } }));
  let pending = false;
  const apply = () => {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => {
      pending = false;
      const { fn, key } = buildFilter();
      log.setFilter(fn, key);
      listView.following = true;
      listView.dirty = true;
    });
  };
  log.setFilter(null, buildFilter().key);
  const form = $("filters");
  form.addEventListener("input", apply);
  form.addEventListener("change", apply);
  form.addEventListener("submit", (ev) => ev.preventDefault());

  const pause = $("pause");
  pause.addEventListener("click", () => {
    log.setPaused(!log.paused);
    pause.setAttribute("aria-pressed", String(log.paused));
    setText(pause, log.paused ? "Resume" : "Pause");
  });
  $("clear").addEventListener("click", () => {
    log.clear();
    traces.clear();
    metrics.clear();
    participants.clearTraffic();
    state.clearedDropped = state.serverDropped;
    listView.select(null);
    traceView.show(null);
  });
  $("detail-close").addEventListener("click", () => listView.select(null));
  document.addEventListener("keydown", (ev) => {
    if (ev.target instanceof Element && ev.target.closest("input, select, textarea, button")) return;
    if (ev.key === "p" && !ev.ctrlKey && !ev.metaKey && !ev.altKey) pause.click();
    else if (ev.key === "Escape") listView.select(null);
  });
}

// -- drawing -------------------------------------------------------------------------

function droppedTotal() {
  return Math.max(0, state.serverDropped - state.clearedDropped) + log.heldDropped;
}

function renderHeader(rate) {
  setText($("count-received"), fmtCount(state.received));
  if (rate !== undefined) setText($("count-rate"), rate < 10 ? rate.toFixed(1) : String(Math.round(rate)));
  setText($("count-dropped"), fmtCount(droppedTotal()));
  setText($("count-viewers"), String(state.stats?.viewers ?? "–"));

  const paused = $("notice-paused");
  paused.hidden = !log.paused;
  if (log.paused) {
    setText(paused, `Paused: the list is frozen and ${log.held.length} new Signals are held` +
      `${log.heldDropped ? ` (${log.heldDropped} dropped while paused)` : ""}. Metrics, traces and participants stay live. Press Resume to catch up.`);
  }
  const dropped = $("notice-dropped");
  const server = Math.max(0, state.serverDropped - state.clearedDropped);
  dropped.hidden = droppedTotal() === 0;
  if (!dropped.hidden) {
    const parts = [];
    if (server) parts.push(`${server} dropped because this page fell behind the stream`);
    if (log.heldDropped) parts.push(`${log.heldDropped} dropped while paused`);
    setText(dropped, `Dropped Signals: ${parts.join("; ")}. The newest are always kept.`);
  }
  const bad = $("notice-undecodable");
  const undecodable = state.stats?.undecodable ?? 0;
  bad.hidden = undecodable === 0;
  if (undecodable) {
    setText(bad, `Skipped ${undecodable} frames that are not valid Signals` +
      `${state.stats.last_undecodable ? ` (last: ${state.stats.last_undecodable})` : ""}.`);
  }
  const conn = $("notice-conn");
  const synapseClosed = state.conn === "live" && state.stats?.synapse_closed === true;
  conn.hidden = !synapseClosed && (state.conn === "live" || state.conn === "connecting");
  if (synapseClosed) setText(conn, "Prism's connection to the synapse is closed: no new Signals will arrive.");
  else if (!conn.hidden) setText(conn, "Lost the connection to Prism; retrying…");
}

function frame(now) {
  listView.render();
  if (now - state.panelsAt >= PANEL_INTERVAL_MS) {
    state.panelsAt = now;
    const rates = metricsView.render(performance.timeOrigin + now);
    traceView.render();
    participantsView.render();
    renderHeader(rates.total);
  }
  requestAnimationFrame(frame);
}

initTheme($("theme-toggle"));
initControls();
connect();
requestAnimationFrame(frame);
