/**
 * Check deadlines without a Node timer per check (internal).
 *
 * Every check with the same timeout gets its deadline `start + timeout` in
 * start order, so the deadlines of one timeout value form a FIFO: one queue
 * per timeout value, under one Node timer armed at its oldest live deadline.
 * A check that settles leaves an empty slot behind (nothing else: it can be
 * collected at once), skipped when the timer comes; when no check is left the
 * timer is cleared, so a finished check never holds the process open.
 *
 * Deadlines are real time (`performance.now()`): they bound real I/O.
 */

/** Something with a deadline in a `DeadlineQueue`. */
export interface Expiring {
  /** `performance.now()` at which `expire` is due. */
  deadline: number;
  /** Slot in its queue (managed by the queue); -1 when not queued. */
  dslot: number;
  /** Called once at the deadline, unless removed first. */
  expire(): void;
}

/** Node counts timers in whole milliseconds: a timer may run up to 1 ms before its due time. */
const RESOLUTION_MS = 1;

export class DeadlineQueue {
  readonly #items: Array<Expiring | undefined> = [];
  #head = 0;
  /** Slot number of `#items[0]`. */
  #base = 0;
  #live = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #firing = false;
  readonly #fire = (): void => this.#onTimer();

  /** Items waiting for their deadline. */
  get size(): number {
    return this.#live;
  }

  /** Queue `x`; its deadline must not be earlier than that of any item added before (same timeout, later start). */
  add(x: Expiring): void {
    x.dslot = this.#base + this.#items.length;
    this.#items.push(x);
    this.#live++;
    if (this.#timer === undefined && !this.#firing) this.#arm(x.deadline);
  }

  /** Take `x` out (it settled before its deadline); a no-op when it is not queued. */
  remove(x: Expiring): void {
    const slot = x.dslot;
    if (slot < 0) return;
    x.dslot = -1;
    this.#items[slot - this.#base] = undefined;
    if (--this.#live === 0 && !this.#firing) this.#clear();
  }

  #arm(at: number): void {
    this.#timer = setTimeout(this.#fire, Math.max(0, Math.ceil(at - performance.now())));
  }

  #clear(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#items.length = 0;
    this.#head = 0;
    this.#base = 0;
  }

  #onTimer(): void {
    this.#timer = undefined;
    this.#firing = true;
    const items = this.#items;
    try {
      const limit = performance.now() + RESOLUTION_MS;
      while (this.#head < items.length) {
        const x = items[this.#head];
        if (x === undefined) {
          this.#head++;
          continue;
        }
        if (x.deadline > limit) break;
        items[this.#head++] = undefined;
        x.dslot = -1;
        this.#live--;
        x.expire();
      }
    } finally {
      this.#firing = false;
    }
    if (this.#live === 0) {
      this.#clear();
      return;
    }
    while (items[this.#head] === undefined) this.#head++;
    if (this.#head > 1024 && this.#head * 2 > items.length) {
      items.splice(0, this.#head);
      this.#base += this.#head;
      this.#head = 0;
    }
    this.#arm((items[this.#head] as Expiring).deadline);
  }
}

const queues = new Map<number, DeadlineQueue>();

/** The shared queue for deadlines `timeoutMs` after their start. */
export function deadlineQueue(timeoutMs: number): DeadlineQueue {
  let q = queues.get(timeoutMs);
  if (q === undefined) {
    q = new DeadlineQueue();
    queues.set(timeoutMs, q);
  }
  return q;
}
