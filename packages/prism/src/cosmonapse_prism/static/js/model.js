// The page's view of one Signal (an "entry") and what can be derived from it alone or
// from it and its parent: a one-line summary, the text searched by the text filter,
// and who sent it to whom.

import { compact } from "./dom.js";

export const SIGNAL_TYPES = [
  "TASK", "AGENT_OUTPUT", "FINAL", "ERROR",
  "TASK_OFFER", "BID", "TASK_AWARDED", "TASK_DECLINED",
  "THOUGHT_DELTA", "PLAN", "TOOL_CALL", "TOOL_RESULT", "MEMORY_APPEND", "ESCALATION",
  "RECALL", "RECALLED", "IMPRINT", "IMPRINTED",
  "CONSENSUS", "CONTEXT_SYNC", "CRITIQUE", "CLARIFICATION", "CLARIFICATION_ANSWER",
  "PERMISSION", "PERMISSION_DECISION",
  "REGISTER", "DEREGISTER", "HEARTBEAT", "DISCOVER",
  "STOP", "STOPPED",
];

/** Replies that end a TASK's wait (the Dendrite's dispatch_and_wait rule). */
export const REPLY_TYPES = new Set(["AGENT_OUTPUT", "FINAL", "ERROR"]);
export const MEMBERSHIP_TYPES = new Set(["REGISTER", "DEREGISTER", "HEARTBEAT"]);

const TS_RE = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?/;

/** Milliseconds since the epoch, keeping microseconds as a fraction. */
export function parseTs(ts) {
  const m = typeof ts === "string" ? TS_RE.exec(ts) : null;
  if (!m) return NaN;
  const base = Date.parse(`${m[1]}Z`);
  return m[2] ? base + Number(`0.${m[2]}`) * 1000 : base;
}

function str(value) {
  return typeof value === "string" && value ? value : null;
}

// The route's placeholders: "?" (not stated) and "*" (whoever listens) name no one.
function routeName(name) {
  return name && name !== "?" && name !== "*" ? name : null;
}

function obj(value) {
  return value && typeof value === "object" && !Array.isArray(value) ? value : {};
}

/**
 * Wrap a decoded Signal. Fields used everywhere are copied out once; the raw Signal
 * stays in `sig` for the detail view.
 */
export function makeEntry(sig, replay, now) {
  const directed = sig.directed && typeof sig.directed === "object" ? sig.directed : null;
  return {
    sig,
    id: sig.id,
    type: String(sig.type),
    trace: String(sig.trace_id),
    parent: str(sig.parent_id),
    who: directed ? str(directed.id) : null,
    caps: directed && Array.isArray(directed.capabilities) ? directed.capabilities.map(String) : [],
    tms: parseTs(sig.ts),
    rx: now,
    replay,
    payload: obj(sig.payload),
    meta: obj(sig.meta),
    truncated: Number.isFinite(sig.prism_truncated) ? sig.prism_truncated : 0,
    from: null,
    to: null,
    // The route Prism's server computed (cosmonapse.route_of, the rule `cosmo doppler`
    // shares); null when the frame has none.
    routed: typeof sig.prism_from === "string" && typeof sig.prism_to === "string"
      ? [routeName(sig.prism_from), routeName(sig.prism_to)]
      : null,
    _summary: null,
    _text: null,
  };
}

/** One line describing the payload, computed once when first shown. */
export function summary(e) {
  if (e._summary !== null) return e._summary;
  const p = e.payload;
  let text;
  if (e.truncated) {
    text = `(payload of ${e.truncated} bytes not shown)`;
  } else {
    switch (e.type) {
      case "TASK": text = compact(p.input); break;
      case "AGENT_OUTPUT": text = compact(p.output); break;
      case "FINAL": text = compact(p.result); break;
      case "ERROR": text = `${p.code ?? "ERROR"}: ${p.message ?? ""}${p.recoverable ? " (recoverable)" : ""}`; break;
      case "STOP": text = `rollback=${Boolean(p.rollback)}${p.reason ? ` reason=${p.reason}` : ""}`; break;
      case "STOPPED": text = `node=${p.node ?? "?"} cancelled=${p.cancelled ?? 0} compensated=${p.compensated ?? 0}`; break;
      case "REGISTER": text = `${p.role ?? "neuron"} [${Array.isArray(p.capabilities) ? p.capabilities.join(", ") : ""}]${p.version ? ` v${p.version}` : ""}`; break;
      case "HEARTBEAT": text = `${p.status ?? "ok"}${p.in_flight !== undefined ? ` in_flight=${p.in_flight}` : ""}`; break;
      case "IMPRINT": text = `${p.op ?? "?"}${p.merge_key ? ` ${p.merge_key}` : ""} ${compact(p.entry, 100)}`; break;
      case "IMPRINTED": text = p.error ? `error: ${compact(p.error, 120)}` : `${p.op ?? ""} ok${p.took_ms !== undefined ? ` ${p.took_ms} ms` : ""}`; break;
      case "RECALL": text = `${p.recall_mode ?? ""} ${compact(p.query, 120)}`; break;
      case "RECALLED": text = p.error ? `error: ${compact(p.error, 120)}` : `${Array.isArray(p.hits) ? p.hits.length : 0} hits`; break;
      default: text = compact(p);
    }
  }
  const attempt = e.meta.attempt;
  if (typeof attempt === "number" && attempt > 1) text = `attempt ${attempt} · ${text}`;
  e._summary = String(text).replace(/\s+/g, " ");
  return e._summary;
}

/** Lower-case text the free-text filter searches: type, ids, payload and meta. */
export function searchText(e) {
  if (e._text !== null) return e._text;
  let body;
  try {
    body = JSON.stringify(e.payload) + " " + JSON.stringify(e.meta);
  } catch {
    body = "";
  }
  const text = `${e.type} ${e.id} ${e.trace} ${e.who ?? ""} ${e.from ?? ""} ${e.to ?? ""} ${body}`;
  e._text = text.slice(0, 16384).toLowerCase();
  return e._text;
}

/** Who is acting when `entry` is someone's cause: a TASK's worker, else its sender. */
function actorOf(entry) {
  if (!entry) return null;
  return entry.type === "TASK" ? entry.to : entry.from;
}

function capsLabel(e) {
  return e.caps.length ? `caps:${e.caps.join(",")}` : null;
}

/**
 * Fill `e.from` / `e.to`. The server sends each Signal's route (`prism_from` /
 * `prism_to`, by the SDK's cosmonapse.route_of, so the Doppler names the same two ends);
 * that is used whenever the frame has it. The inference below is only the fallback for
 * a frame without it: the protocol carries the producer in `directed.id` on replies and
 * the target on requests; a sender is named only by `meta.sender` / `meta.node` when
 * present, and is otherwise inferred from the parent.
 */
export function route(e, parent) {
  if (e.routed) {
    [e.from, e.to] = e.routed;
    return;
  }
  const m = e.meta;
  const p = e.payload;
  const sender = str(m.sender) || str(m.dendrite) || str(m.source) || str(m.node);
  switch (e.type) {
    case "TASK":
      e.from = str(m.caller) || sender || actorOf(parent) || "orchestrator"; // caller: a delegating Neuron
      e.to = e.who || capsLabel(e);
      break;
    case "AGENT_OUTPUT":
    case "ERROR":
    case "TOOL_RESULT":
      e.from = e.who || (parent && parent.type === "TASK" ? parent.to : null) || sender;
      e.to = parent ? parent.from : null;
      break;
    case "FINAL":
      e.from = e.who || sender || (parent ? parent.from : null) || "orchestrator";
      e.to = null;
      break;
    case "IMPRINT":
    case "RECALL":
      e.from = str(m.neuron) || actorOf(parent) || sender;
      e.to = e.who || (e.sig.directed ? str(e.sig.directed.type) : null);
      break;
    case "IMPRINTED":
    case "RECALLED":
      e.from = e.who || str(p.engram_id) || sender;
      e.to = parent ? parent.from : null;
      break;
    case "STOP":
      e.from = e.who || sender || "orchestrator";
      e.to = "all";
      break;
    case "STOPPED":
      e.from = str(p.node) || sender || e.who;
      e.to = parent ? parent.from : null;
      break;
    case "REGISTER":
    case "DEREGISTER":
    case "HEARTBEAT":
      e.from = str(m.node) || e.who;
      e.to = null;
      break;
    default:
      e.from = sender || actorOf(parent) || null;
      e.to = e.who || capsLabel(e);
  }
  if (e.from === e.to) e.to = null;
}
