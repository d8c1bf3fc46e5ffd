// The virtualised Signal list: only the rows in sight exist in the DOM, recycled as the
// list scrolls, so 5,000 entries cost the same to draw as 40. It follows the newest
// Signal while scrolled to the bottom, and holds still otherwise.
//
// The rows, the "N shown" count and the list's data-filter (the filter they were drawn
// with) are written together, so whoever reads them never sees one without the others.

import { fmtClock, h, setText, shortId } from "./dom.js";
import { summary } from "./model.js";

const ROW_HEIGHT = 24; // keep in step with .row in prism.css

export class ListView {
  constructor(viewport, count, log, { onSelect }) {
    this.viewport = viewport;
    this.count = count;
    this.log = log;
    this.onSelect = onSelect;
    this.spacer = viewport.querySelector(".list-spacer");
    this.empty = viewport.querySelector(".empty");
    this.rows = [];
    this.following = true;
    this.selectedId = null;
    this.renderedVersion = -1;
    this.renderedTop = -1;
    this.renderedHeight = -1;
    viewport.addEventListener("scroll", () => {
      const v = this.viewport;
      this.following = v.scrollTop + v.clientHeight >= v.scrollHeight - ROW_HEIGHT * 1.5;
      this.dirty = true;
    }, { passive: true });
    viewport.addEventListener("click", (ev) => {
      const row = ev.target.closest(".row");
      if (row && row.entry) this.select(row.entry);
    });
    viewport.addEventListener("keydown", (ev) => {
      if (ev.key === "End") { this.following = true; this.dirty = true; }
    });
    this.dirty = true;
  }

  select(entry) {
    this.selectedId = entry ? entry.id : null;
    this.dirty = true;
    this.onSelect(entry);
  }

  /** Draw if anything changed; cheap when nothing did. */
  render() {
    const log = this.log;
    const v = this.viewport;
    const n = log.size;
    if (!this.dirty && log.version === this.renderedVersion && v.clientHeight === this.renderedHeight) {
      return;
    }
    this.dirty = false;
    this.renderedVersion = log.version;
    this.renderedHeight = v.clientHeight;
    this.spacer.style.height = `${n * ROW_HEIGHT}px`;
    this.empty.hidden = n > 0;
    if (this.following) {
      v.scrollTop = n * ROW_HEIGHT;
    } else if (log.shifted) {
      v.scrollTop = Math.max(0, v.scrollTop - log.shifted * ROW_HEIGHT);
    }
    log.shifted = 0;
    const first = Math.max(0, Math.floor(v.scrollTop / ROW_HEIGHT) - 2);
    const count = Math.ceil(v.clientHeight / ROW_HEIGHT) + 5;
    while (this.rows.length < count) this.rows.push(this._makeRow());
    for (let k = 0; k < this.rows.length; k++) {
      const row = this.rows[k];
      const idx = first + k;
      if (k >= count || idx >= n) {
        if (!row.hidden) row.hidden = true;
        row.entry = null;
        continue;
      }
      const e = log.at(idx);
      row.hidden = false;
      row.style.transform = `translateY(${idx * ROW_HEIGHT}px)`;
      if (row.entry !== e) this._fill(row, e);
      const selected = e.id === this.selectedId;
      if (row.classList.contains("selected") !== selected) row.classList.toggle("selected", selected);
    }
    const kept = log.total;
    setText(this.count, log.filter ? `${n} of ${kept} match` : `${n} shown${log.evicted ? ` (last ${kept})` : ""}`);
    if (v.dataset.filter !== log.filterKey) v.dataset.filter = log.filterKey;
  }

  _makeRow() {
    const cells = {
      time: h("span", { class: "c-time" }),
      type: h("span", { class: "badge" }),
      route: h("span", { class: "c-route" }),
      trace: h("span", { class: "c-trace" }),
      summary: h("span", { class: "c-summary" }),
    };
    const row = h("div", { class: "row row-grid", attrs: { role: "listitem" } },
      cells.time, cells.type, cells.route, cells.trace, cells.summary);
    row.cells = cells;
    row.entry = null;
    row.hidden = true;
    this.spacer.append(row);
    return row;
  }

  _fill(row, e) {
    row.entry = e;
    const c = row.cells;
    row.dataset.type = e.type;
    row.dataset.id = e.id;
    setText(c.time, fmtClock(e.tms));
    setText(c.type, e.type);
    c.type.dataset.type = e.type;
    setText(c.route, e.to ? `${e.from ?? "?"} → ${e.to}` : e.from ?? e.who ?? "");
    setText(c.trace, shortId(e.trace));
    c.trace.title = e.trace;
    setText(c.summary, summary(e));
  }
}
