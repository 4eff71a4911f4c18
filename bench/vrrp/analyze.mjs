// Figures of one trial from the events BenchLab collected (pure: arrays in, numbers out), the RFC
// bounds they are held against, and the statistics over trials.

/** RFC 9568 §6.1 Skew_Time (v3) in ms for a backup of `priority`. */
export function skewMs(priority, ivMs) {
  return ((256 - priority) * ivMs) / 256;
}

/** RFC 9568 §6.1 Master_Down_Interval in ms. */
export function masterDownMs(priority, ivMs) {
  return 3 * ivMs + skewMs(priority, ivMs);
}

function first(arr, from, to, pred) {
  for (const e of arr) if (e.t >= from && e.t <= to && pred(e)) return e;
  return undefined;
}

function last(arr, from, to, pred) {
  let found;
  for (const e of arr) if (e.t >= from && e.t <= to && pred(e)) found = e;
  return found;
}

const since = (e, t0) => (e === undefined ? undefined : e.t - t0);

/**
 * Echo replies in [from, to]: the longest gap between two replies (the last reply before `from`
 * included), and the echo requests the client sent in [from, to - 50 ms] that got no reply
 * (counted by sequence number, so requests the client could not even put on the wire count too).
 */
export function clientLoss(wire, from, to) {
  let prev = last(wire, -Infinity, from, (e) => e.k === 'rep')?.t ?? from;
  let gap = 0;
  let gapEnd = from;
  const replied = new Set();
  for (const e of wire) {
    if (e.k !== 'rep' || e.t < from || e.t > to) continue;
    if (e.t - prev > gap) {
      gap = e.t - prev;
      gapEnd = e.t;
    }
    prev = e.t;
    replied.add(e.seq);
  }
  if (to - prev > gap) {
    gap = to - prev;
    gapEnd = to;
  }
  // A reply takes well under 50 ms here; requests of the last 50 ms may still be answered.
  const reqs = wire.filter((e) => e.k === 'req' && e.t >= from && e.t <= to - 50);
  let lost = 0;
  const lostAt = [];
  if (reqs.length > 0) {
    const a = reqs[0].seq;
    const span = ((reqs[reqs.length - 1].seq - a + 65536) % 65536) + 1;
    const sent = new Map(reqs.map((e) => [e.seq, e]));
    for (let i = 0; i < span; i++) {
      const seq = (a + i) % 65536;
      if (replied.has(seq)) continue;
      lost++;
      // Where each lost request went (for the JSON detail): its time and destination MAC, if it left.
      const r = sent.get(seq);
      lostAt.push(r === undefined ? { seq } : { seq, t: r.t, dm: r.dm });
    }
  }
  return { gap, gapEnd, lost, lostAt };
}

/**
 * Failover: the fault at `t0` on r1, the backup r2 taking over; every figure in ms from `t0`.
 * `timer` is the backup's own timing: from what started its timer on the wire (r1's priority 0
 * advert on a clean stop; r1's last advert otherwise) to r2's first advert, next to `timerRfc`,
 * Skew_Time or Master_Down_Interval.
 */
export function failoverFigures(ev, { t0, tEnd, fault, ivMs, ips, macs, r2Priority }) {
  const { wire, addr, neigh } = ev;
  const adv2 = first(wire, t0, tEnd, (e) => e.k === 'adv' && e.ip === ips.r2 && e.prio > 0);
  const stop = fault === 'clean' ? first(wire, t0, tEnd, (e) => e.k === 'adv' && e.ip === ips.r1 && e.prio === 0) : undefined;
  const lastAdv1 = last(wire, t0 - 60_000, adv2?.t ?? tEnd, (e) => e.k === 'adv' && e.ip === ips.r1 && e.prio > 0);
  const timerStart = fault === 'clean' ? stop : lastAdv1;
  const loss = clientLoss(wire, t0, tEnd);
  return {
    stopAdvert: since(stop, t0),
    timer: adv2 !== undefined && timerStart !== undefined ? adv2.t - timerStart.t : undefined,
    timerRfc: fault === 'clean' ? skewMs(r2Priority, ivMs) : masterDownMs(r2Priority, ivMs),
    advert: since(adv2, t0),
    vip: since(first(addr, t0, tEnd, (e) => e.h === 'r2' && e.op === 'add'), t0),
    garp: since(first(wire, t0, tEnd, (e) => e.k === 'garp' && e.sm === macs.r2), t0),
    neighbour: since(first(neigh, t0, tEnd, (e) => e.mac === macs.r2), t0),
    reply: since(first(wire, t0, tEnd, (e) => e.k === 'rep' && e.sm === macs.r2), t0),
    gap: loss.gap,
    lost: loss.lost,
    detail: detail(ev, t0, tEnd, loss, macs),
  };
}

/** Times (ms from `t0`) of what happened in [t0, tEnd], and where the lost echo requests went: for the JSON. */
function detail(ev, t0, tEnd, loss, macs) {
  const who = (mac) => Object.keys(macs).find((h) => macs[h] === mac) ?? mac;
  const r = (t) => Math.round((t - t0) * 10) / 10;
  const events = [];
  let lastPrio = {};
  for (const e of ev.wire) {
    if (e.t < t0 || e.t > tEnd) continue;
    // Adverts: only when a router's priority changes (its first advert, priority 0, ...).
    if (e.k === 'adv' && lastPrio[e.ip] !== e.prio) events.push(`${r(e.t)} advert ${e.ip} prio ${e.prio}`);
    if (e.k === 'adv') lastPrio[e.ip] = e.prio;
    if (e.k === 'garp') events.push(`${r(e.t)} garp ${who(e.sm)}`);
  }
  for (const e of ev.addr) if (e.t >= t0 && e.t <= tEnd) events.push(`${r(e.t)} vip ${e.op} ${e.h}`);
  for (const e of ev.neigh) if (e.t >= t0 && e.t <= tEnd) events.push(`${r(e.t)} neighbour ${who(e.mac)}`);
  events.sort((a, b) => parseFloat(a) - parseFloat(b));
  const garps = events.filter((e) => e.includes(' garp '));
  // Bursts of GARPs collapse to first, last and count.
  const compact = events.filter((e) => !e.includes(' garp ') || e === garps[0] || e === garps[garps.length - 1]);
  return {
    events: compact,
    garps: garps.length,
    gapEnd: r(loss.gapEnd),
    lost: loss.lostAt.slice(0, 20).map((l) => (l.t === undefined ? `seq ${l.seq} never sent` : `${r(l.t)} to ${who(l.dm)}`)),
  };
}

/** Whether `h` holds the VIP at `t` (its last address event before `t`). */
function holdsAt(addr, h, t) {
  return last(addr, -Infinity, t, (e) => e.h === h)?.op === 'add';
}

/**
 * Return of r1 at `tRet` (daemon restarted, or link up) until `tEnd` (the next fault, or the end of
 * the group): when r1 acts as master again (its first advert), the client's loss meanwhile, and
 * how long both routers hold the VIP from the moment r1 claims it (its first advert or VIP add,
 * whichever comes first; a VIP left behind by a killed daemon before that is not counted).
 */
export function returnFigures(ev, { tRet, tEnd, ips, macs }) {
  const { wire } = ev;
  // Two monitors (one per router) feed `addr`: put their events in time order.
  const addr = [...ev.addr].sort((a, b) => a.t - b.t);
  const adv1 = first(wire, tRet, tEnd, (e) => e.k === 'adv' && e.ip === ips.r1 && e.prio > 0);
  const add1 = first(addr, tRet, tEnd, (e) => e.h === 'r1' && e.op === 'add');
  const claim = Math.min(adv1?.t ?? Infinity, add1?.t ?? Infinity);
  let dual = 0;
  if (Number.isFinite(claim)) {
    let both = holdsAt(addr, 'r1', claim) && holdsAt(addr, 'r2', claim);
    let t = claim;
    for (const e of addr) {
      if (e.t <= claim || e.t > tEnd) continue;
      if (both) dual += e.t - t;
      t = e.t;
      both = holdsAt(addr, 'r1', e.t) && holdsAt(addr, 'r2', e.t);
    }
    if (both) dual += tEnd - t;
  }
  const loss = clientLoss(wire, tRet, tEnd);
  // r2 taking the VIP again after r1 claimed it: a spurious failover (r1's adverts came too late).
  const flaps = Number.isFinite(claim) ? addr.filter((e) => e.h === 'r2' && e.op === 'add' && e.t > claim && e.t <= tEnd).length : undefined;
  return {
    preempt: since(adv1, tRet),
    vip: since(add1, tRet),
    dual: Number.isFinite(claim) ? dual : undefined,
    flaps,
    gap: loss.gap,
    lost: loss.lost,
    detail: detail(ev, tRet, tEnd, loss, macs),
  };
}

/** { median, min, max, n } of the defined values. */
export function stats(values) {
  const v = values.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return { median: undefined, min: undefined, max: undefined, n: 0 };
  const mid = Math.floor(v.length / 2);
  const median = v.length % 2 === 1 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
  return { median, min: v[0], max: v[v.length - 1], n: v.length };
}
