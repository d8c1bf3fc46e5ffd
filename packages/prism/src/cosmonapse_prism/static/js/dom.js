// Small DOM helpers. Everything that comes off the bus is written with textContent or
// setAttribute on a fixed list of safe attributes: never as markup.

const SVG_NS = "http://www.w3.org/2000/svg";

/** Create an element. props: class, title, text, data (object), attrs (object). */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  applyProps(el, props);
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    el.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return el;
}

/** Create an SVG element with attributes; text (if any) goes through textContent. */
export function s(tag, attrs = {}, text) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

function applyProps(el, props) {
  if (props.class) el.className = props.class;
  if (props.title !== undefined) el.title = String(props.title);
  if (props.text !== undefined) el.textContent = String(props.text);
  if (props.data) for (const [k, v] of Object.entries(props.data)) el.dataset[k] = String(v);
  if (props.attrs) for (const [k, v] of Object.entries(props.attrs)) el.setAttribute(k, String(v));
}

/** Set textContent only when it changed (cheap to call every frame). */
export function setText(el, text) {
  const value = String(text);
  if (el.textContent !== value) el.textContent = value;
}

export function $(id) {
  const el = document.getElementById(id);
  if (!el) throw new Error(`missing #${id}`);
  return el;
}

/** "12:04:05.123" in local time. */
export function fmtClock(ms) {
  if (!Number.isFinite(ms)) return "--:--:--";
  const d = new Date(ms);
  const p = (n, w = 2) => String(n).padStart(w, "0");
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}

/** A duration in ms, short: "840 µs", "12.3 ms", "4.20 s". */
export function fmtMs(ms) {
  if (!Number.isFinite(ms)) return "–";
  const a = Math.abs(ms);
  if (a < 1) return `${Math.round(ms * 1000)} µs`;
  if (a < 100) return `${ms.toFixed(1)} ms`;
  if (a < 1000) return `${Math.round(ms)} ms`;
  if (a < 60000) return `${(ms / 1000).toFixed(2)} s`;
  return `${(ms / 60000).toFixed(1)} min`;
}

export function fmtCount(n) {
  if (n < 10000) return String(n);
  if (n < 1e6) return `${(n / 1000).toFixed(n < 1e5 ? 1 : 0)}k`;
  return `${(n / 1e6).toFixed(1)}M`;
}

/** The random tail of a ULID-based id: enough to tell ids apart on screen. */
export function shortId(id) {
  return typeof id === "string" && id.length > 10 ? id.slice(-8) : String(id ?? "");
}

/** JSON, compact and cut to `max` characters. */
export function compact(value, max = 160) {
  let text;
  try {
    text = JSON.stringify(value);
  } catch {
    text = String(value);
  }
  if (text === undefined) text = "";
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}
