// The Signal list's data: a bounded buffer, the filtered view over it, and pause.
//
// Only the newest `capacity` entries are kept; older ones fall off the front. While
// paused, new entries wait in a second bounded buffer; what overflows it is counted as
// dropped and said on the page.

export class SignalLog {
  constructor({ capacity = 5000, holdCapacity = 5000 } = {}) {
    this.capacity = capacity;
    this.holdCapacity = holdCapacity;
    this.filter = null;
    this.filterKey = ""; // what the filter was built from, said on the page for tests
    this.paused = false;
    this.heldDropped = 0;
    this.reset();
  }

  reset() {
    this.items = [];
    this.start = 0;
    this.view = [];
    this.vstart = 0;
    this.held = [];
    this.evicted = 0;
    this.shifted = 0; // view rows that left the top since the list last rendered
    this.version = 0;
  }

  /** Entries in the view (after filtering). */
  get size() {
    return this.view.length - this.vstart;
  }

  get total() {
    return this.items.length - this.start;
  }

  at(i) {
    return this.view[this.vstart + i];
  }

  add(entry) {
    if (this.paused) {
      this.held.push(entry);
      if (this.held.length > this.holdCapacity) {
        const over = this.held.length - this.holdCapacity;
        this.held.splice(0, over);
        this.heldDropped += over;
      }
      return;
    }
    this._append(entry);
  }

  _append(entry) {
    this.items.push(entry);
    if (!this.filter || this.filter(entry)) this.view.push(entry);
    if (this.items.length - this.start > this.capacity) {
      const old = this.items[this.start++];
      this.evicted++;
      if (this.view[this.vstart] === old) {
        this.vstart++;
        this.shifted++;
      }
      this._compact();
    }
    this.version++;
  }

  _compact() {
    // Amortised O(1) removal from the front: slice only once half the array is dead.
    if (this.start > this.capacity) {
      this.items = this.items.slice(this.start);
      this.start = 0;
    }
    if (this.vstart > 1024 && this.vstart * 2 > this.view.length) {
      this.view = this.view.slice(this.vstart);
      this.vstart = 0;
    }
  }

  setFilter(fn, key = "") {
    this.filter = fn;
    this.filterKey = key;
    const live = this.items.slice(this.start);
    this.view = fn ? live.filter(fn) : live;
    this.vstart = 0;
    this.shifted = 0;
    this.version++;
  }

  setPaused(paused) {
    if (paused === this.paused) return;
    this.paused = paused;
    if (!paused) {
      const held = this.held;
      this.held = [];
      for (const e of held) this._append(e);
    }
    this.version++;
  }

  clear() {
    const { filter, paused } = this;
    this.reset();
    this.filter = filter;
    this.paused = paused;
    this.heldDropped = 0;
    this.version++;
  }
}
