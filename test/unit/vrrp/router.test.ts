import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { FakeClock } from '../../../src/util/clock.js';
import { AbortError } from '../../../src/util/errors.js';
import type { Logger } from '../../../src/util/logger.js';
import { type VrrpInstanceOptions, VrrpRouter, type VrrpTransport } from '../../../src/vrrp/router.js';
import { type AddressFamily } from '../../../src/vrrp/address.js';
import { type LinkAnnouncement, parseLinkAnnouncement } from '../../../src/vrrp/codec-link.js';
import { decodeAdvert, encodeAdvert, verifyAdvertChecksum } from '../../../src/vrrp/codec.js';
import { VrrpError } from '../../../src/vrrp/errors.js';
import type { ReceivedPacket } from '../../../src/vrrp/codec-receive.js';

interface Sent {
  at: number;
  family: AddressFamily;
  src: string;
  dst: string;
  payload: Uint8Array;
}

/** An in-memory segment: adverts reach every other connected router after `latencyMs` on the fake clock. */
class Wire {
  readonly members: { name: string; router: VrrpRouter; up: boolean }[] = [];
  constructor(
    readonly clock: FakeClock,
    readonly latencyMs = 0,
  ) {}
  deliver(from: string, p: ReceivedPacket): void {
    const sender = this.members.find((m) => m.name === from);
    if (sender === undefined || !sender.up) return;
    for (const m of this.members) {
      if (m.name === from || !m.up) continue;
      // Unicast: only the addressee.
      const multicast = p.dst === '224.0.0.18' || p.dst === 'ff02::12';
      if (!multicast && m.router.instanceState('vi')?.config.primaryAddress !== p.dst) continue;
      this.clock.setTimer(this.latencyMs, () => m.router.receive(p));
    }
  }
}

class FakeTransport implements VrrpTransport {
  readonly ops: string[] = [];
  readonly adverts: Sent[] = [];
  readonly frames: { at: number; frame: LinkAnnouncement | undefined }[] = [];
  readonly addresses = new Set<string>();
  /** When set, address additions wait for it. */
  gate: Promise<void> | undefined;
  failAdverts = false;

  constructor(
    readonly name: string,
    readonly wire: Wire,
  ) {}

  sendAdvert(_instance: string, p: { family: AddressFamily; src: string; dst: string; payload: Uint8Array }): void {
    if (this.failAdverts) throw new Error('ENETDOWN');
    this.ops.push(`advert:${decodeAdvert(p.payload, 0, p.family).priority}`);
    this.adverts.push({ at: this.wire.clock.now(), ...p });
    this.wire.deliver(this.name, { family: p.family, src: p.src, dst: p.dst, ttl: 255, protocol: 112, payload: p.payload });
  }
  sendFrame(_instance: string, frame: Uint8Array): void {
    this.ops.push('frame');
    this.frames.push({ at: this.wire.clock.now(), frame: parseLinkAnnouncement(frame) });
  }
  async addAddresses(_instance: string, addrs: readonly string[]): Promise<void> {
    this.ops.push('add:start');
    if (this.gate !== undefined) await this.gate;
    for (const a of addrs) this.addresses.add(a);
    this.ops.push('add');
  }
  removeAddresses(_instance: string, addrs: readonly string[]): void {
    for (const a of addrs) this.addresses.delete(a);
    this.ops.push('remove');
  }
}

function inst(host: number, priority: number, over: Partial<VrrpInstanceOptions> = {}): VrrpInstanceOptions {
  return {
    name: 'vi',
    version: 3,
    family: 'ipv4',
    vrid: 51,
    priority,
    advertIntervalMs: 1000,
    addresses: ['192.0.2.100'],
    primaryAddress: `192.0.2.${host}`,
    mac: `02:00:00:00:00:0${host}`,
    ...over,
  };
}

function setup(defs: [string, VrrpInstanceOptions][], latencyMs = 0) {
  const clock = new FakeClock();
  const wire = new Wire(clock, latencyMs);
  const nodes = defs.map(([name, opts]) => {
    const transport = new FakeTransport(name, wire);
    const router = new VrrpRouter({ instances: [opts], transport, clock });
    wire.members.push({ name, router, up: true });
    return { name, router, transport };
  });
  /** Let queued transport work (promise chains) run: one macrotask drains every microtask. */
  const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
  /** Advance protocol time timer by timer, letting queued transport work run in between. */
  const run = async (ms: number): Promise<void> => {
    const until = clock.now() + ms;
    await settle();
    for (let i = 0; i < 100_000; i++) {
      const due = clock.nextDue();
      if (due === undefined || due > until) break;
      clock.advance(due - clock.now());
      await settle();
    }
    clock.advance(until - clock.now());
    await settle();
  };
  return { clock, wire, nodes, run };
}

describe('VrrpRouter driver over an in-memory wire', () => {
  it('elects, configures addresses on the master only, and announces on keepalived\'s schedule', async () => {
    const { nodes, run } = setup([
      ['A', inst(1, 100)],
      ['B', inst(2, 200)],
    ]);
    const [a, b] = nodes as [(typeof nodes)[0], (typeof nodes)[0]];
    const transitions: string[] = [];
    for (const n of nodes) n.router.on('transition', (e) => transitions.push(`${n.name}:${e.from}->${e.to}:${e.reason}@${e.at}`));
    a.router.start();
    b.router.start();
    await run(10_000);
    expect(transitions).toEqual(['A:initialize->backup:startup@0', 'B:initialize->backup:startup@0', 'B:backup->master:master-down@3218.75']);
    expect([...b.transport.addresses]).toEqual(['192.0.2.100']);
    expect([...a.transport.addresses]).toEqual([]);
    // 5 GARPs at the takeover, 5 more 5 s later, each from B's MAC for the VIP.
    expect(b.transport.frames.map((f) => f.at)).toEqual([...Array<number>(5).fill(3218.75), ...Array<number>(5).fill(8218.75)]);
    for (const f of b.transport.frames) {
      expect(f.frame).toMatchObject({ kind: 'garp', address: '192.0.2.100', senderMac: '02:00:00:00:00:02', targetMac: 'ff:ff:ff:ff:ff:ff' });
    }
    // RFC 9568 §6.4.2's order: the advert, then the addresses, then the frames once they are in
    // place (§8.1.2); a transport without `claim` gets the frames after addAddresses resolves.
    expect(b.transport.ops.slice(0, 9)).toEqual(['remove', 'advert:200', 'add:start', 'add', 'frame', 'frame', 'frame', 'frame', 'frame']);
    expect(a.router.counters('vi')).toMatchObject({ ok: 7, checksum: 0 });
    expect(a.router.instanceState('vi')?.master).toEqual({ address: '192.0.2.2', priority: 200 });
    expect(a.router.snapshot()).toEqual([
      {
        name: 'vi',
        vrid: 51,
        family: 'ipv4',
        version: 3,
        state: 'backup',
        priority: 100,
        basePriority: 100,
        master: { address: '192.0.2.2', priority: 200 },
        masterAdverIntervalMs: 1000,
        lastTransition: { from: 'initialize', to: 'backup', reason: 'startup', at: 0 },
        transitions: 1,
        counters: expect.objectContaining({ ok: 7 }),
        checksumForm: 'pseudo-header',
      },
    ]);
    expect(b.router.snapshot()[0]).toMatchObject({ state: 'master', transitions: 2, lastTransition: { reason: 'master-down', at: 3218.75 } });
  });

  it('never sends GARPs before the addresses are in place, however slow netlink is', async () => {
    const { nodes, clock } = setup([['B', inst(2, 200)]]);
    const b = nodes[0] as (typeof nodes)[0];
    let open!: () => void;
    b.transport.gate = new Promise<void>((r) => (open = r));
    b.router.start();
    clock.advance(10_000); // netlink has not answered yet
    await Promise.resolve();
    expect(b.router.stateOf('vi')).toBe('master');
    expect(b.transport.frames).toHaveLength(0);
    expect(b.transport.adverts.length).toBeGreaterThan(5); // adverts do not wait
    open();
    await b.router.idle();
    expect(b.transport.frames).toHaveLength(10);
    expect(b.transport.ops.indexOf('add')).toBeLessThan(b.transport.ops.indexOf('frame'));
  });

  it('preemption: the new master advertises first, then claims the addresses and sends GARP in the same tick (claim)', async () => {
    const { nodes, run } = setup([
      ['A', inst(1, 100)],
      ['B', inst(2, 200)],
    ]);
    const [a, b] = nodes as [(typeof nodes)[0], (typeof nodes)[0]];
    // A transport whose address change is in place on return (LinuxVrrpTransport with rtnetlink idle).
    let acked!: () => void;
    const claims: { addresses: readonly string[]; frames: number; addressesInPlaceFirst: boolean }[] = [];
    (b.transport as FakeTransport & Pick<VrrpTransport, 'claim'>).claim = (_i, addrs, frames) => {
      b.transport.ops.push('claim');
      for (const x of addrs) b.transport.addresses.add(x);
      claims.push({ addresses: addrs, frames: frames.length, addressesInPlaceFirst: addrs.every((x) => b.transport.addresses.has(x)) });
      for (const f of frames) b.transport.sendFrame('vi', f);
      return new Promise<void>((r) => (acked = r)); // the acknowledgement comes later
    };
    a.router.start();
    await run(5000);
    expect(a.router.stateOf('vi')).toBe('master');
    b.router.start();
    await run(3300); // B's Master_Down_Interval (3218.75 ms) is over; its acknowledgement has not come
    expect(b.router.stateOf('vi')).toBe('master');
    const i = b.transport.ops.indexOf('advert:200');
    expect(b.transport.ops.slice(i, i + 7)).toEqual(['advert:200', 'claim', 'frame', 'frame', 'frame', 'frame', 'frame']);
    // The advert and the frames left at the same instant of the fake clock, before any acknowledgement.
    expect(b.transport.frames[0]?.at).toBe(b.transport.adverts[0]?.at);
    expect(claims).toEqual([{ addresses: ['192.0.2.100'], frames: 5, addressesInPlaceFirst: true }]);
    expect(a.router.stateOf('vi')).toBe('backup');
    expect([...a.transport.addresses]).toEqual([]);
    // Later changes wait for the claim's acknowledgement: a shutdown's removal runs after it.
    void b.router.stop();
    expect(b.transport.ops.at(-1)).toBe('advert:0');
    expect(b.transport.addresses.has('192.0.2.100')).toBe(true);
    acked();
    await b.router.idle();
    expect(b.transport.ops.at(-1)).toBe('remove');
    expect(b.transport.addresses.size).toBe(0);
  });

  it('takeoverOrder addresses-first: the claim (addresses, then GARP) and then the advert, all in one tick', async () => {
    const { nodes, run } = setup([
      ['A', inst(1, 100)],
      ['B', inst(2, 200, { takeoverOrder: 'addresses-first' })],
    ]);
    const [a, b] = nodes as [(typeof nodes)[0], (typeof nodes)[0]];
    (b.transport as FakeTransport & Pick<VrrpTransport, 'claim'>).claim = (_i, addrs, frames) => {
      b.transport.ops.push('claim');
      for (const x of addrs) b.transport.addresses.add(x);
      for (const f of frames) b.transport.sendFrame('vi', f);
      return new Promise<void>(() => undefined); // never acknowledged: the advert must not wait for it
    };
    a.router.start();
    await run(5000);
    b.router.start();
    await run(3300);
    const i = b.transport.ops.indexOf('claim');
    expect(b.transport.ops.slice(i, i + 7)).toEqual(['claim', 'frame', 'frame', 'frame', 'frame', 'frame', 'advert:200']);
    expect(b.transport.adverts[0]?.at).toBe(b.transport.frames[0]?.at);
    expect(a.router.stateOf('vi')).toBe('backup');
  });

  it('takeoverOrder addresses-first without claim: the advert does not wait for addAddresses', async () => {
    const { nodes, run } = setup([['B', inst(2, 200, { takeoverOrder: 'addresses-first' })]]);
    const b = nodes[0] as (typeof nodes)[0];
    b.transport.gate = new Promise<void>(() => undefined); // netlink never answers
    b.router.start();
    await run(4000);
    expect(b.router.stateOf('vi')).toBe('master');
    expect(b.transport.ops.slice(0, 3)).toEqual(['remove', 'advert:200', 'add:start']);
    expect(b.transport.frames).toHaveLength(0);
  });

  it('a claim that fails is a transport-error event, and the instance stays master', async () => {
    const { nodes, run } = setup([['B', inst(2, 200)]]);
    const b = nodes[0] as (typeof nodes)[0];
    (b.transport as FakeTransport & Pick<VrrpTransport, 'claim'>).claim = () => Promise.reject(new Error('ENODEV'));
    const errors: string[] = [];
    b.router.on('transport-error', (e) => errors.push(`${e.op}:${String(e.error)}`));
    b.router.start();
    await run(4000);
    expect(errors).toEqual(['addAddresses:Error: ENODEV']);
    expect(b.router.stateOf('vi')).toBe('master');
  });

  it('refuses a bad MAC, unicast peer or frame gap up front, not in a timer callback', () => {
    const clock = new FakeClock();
    const transport = new FakeTransport('X', new Wire(clock));
    for (const bad of [{ mac: '02:00' }, { unicastPeers: ['fe80::1'] }, { frameIntervalMs: -1 }, { takeoverOrder: 'garp-first' as 'advert-first' }]) {
      expect(() => new VrrpRouter({ instances: [inst(1, 100, bad)], transport, clock })).toThrow(VrrpError);
    }
  });

  it('a transport that loops our own adverts straight back (multicast loop on) is harmless', () => {
    const clock = new FakeClock();
    const self: { router?: VrrpRouter } = {};
    const notices: string[] = [];
    const transport: VrrpTransport = {
      sendAdvert: (_i, p) => self.router?.receive({ family: p.family, src: p.src, dst: p.dst, ttl: 255, protocol: 112, payload: p.payload }),
      sendFrame: () => undefined,
      addAddresses: () => undefined,
      removeAddresses: () => undefined,
    };
    const router = new VrrpRouter({ instances: [inst(1, 255, { primaryAddress: '192.0.2.100' })], transport, clock });
    self.router = router;
    router.on('notice', (e) => notices.push(e.code));
    router.start();
    clock.advance(3000);
    expect(router.stateOf('vi')).toBe('master');
    // Each looped advert is a notice event (the log line is rate limited); a transport should set
    // IP_MULTICAST_LOOP 0, after which an advert from our own address means an address conflict.
    expect(notices).toEqual(Array<string>(4).fill('own-address'));
    expect(router.counters('vi').ok).toBe(4);
  });

  it('the same VRID on two interfaces: packets go to the instance of the interface they came in on', () => {
    const clock = new FakeClock();
    const transport = new FakeTransport('X', new Wire(clock));
    const r = new VrrpRouter({
      instances: [
        inst(1, 100, { name: 'outside', interface: 'eth0' }),
        inst(1, 100, { name: 'inside', interface: 'eth1', addresses: ['198.51.100.100'], primaryAddress: '198.51.100.1' }),
      ],
      transport,
      clock,
    });
    r.start();
    const payload = encodeAdvert(
      { version: 3, family: 'ipv4', vrid: 51, priority: 200, maxAdvertIntervalCs: 100, addresses: ['198.51.100.100'] },
      { src: '198.51.100.2', dst: '224.0.0.18' },
    );
    const p: ReceivedPacket = { family: 'ipv4', src: '198.51.100.2', dst: '224.0.0.18', ttl: 255, protocol: 112, payload };
    r.receive(p, { interface: 'eth1' });
    expect(r.counters('inside').ok).toBe(1);
    expect(r.counters('outside').ok).toBe(0);
    // Without the interface the match is ambiguous: not claimed.
    r.receive(p);
    expect(r.unclaimed).toBe(1);
    r.receive(p, { interface: 'eth9' });
    expect(r.unclaimed).toBe(2);
    expect(() => new VrrpRouter({ instances: [inst(1, 100, { interface: 'eth0' }), inst(2, 100, { name: 'b', interface: 'eth0' })], transport, clock })).toThrow(
      VrrpError,
    );
  });

  it('spaces GARPs by frameIntervalMs when asked', async () => {
    const { nodes, run } = setup([['B', inst(2, 200, { frameIntervalMs: 20, announce: { count: 3, repeatCount: 0 } })]]);
    const b = nodes[0] as (typeof nodes)[0];
    b.router.start();
    await run(5000);
    expect(b.transport.frames.map((f) => f.at)).toEqual([3218.75, 3238.75, 3258.75]);
  });

  it('a spaced burst stops when the instance is no longer master', async () => {
    const { nodes, run, clock } = setup([['B', inst(2, 200, { frameIntervalMs: 20, announce: { count: 5, repeatCount: 0 } })]]);
    const b = nodes[0] as (typeof nodes)[0];
    b.router.start();
    await run(3218.75 + 30);
    const stopping = b.router.stop();
    clock.advance(1000);
    await stopping;
    expect(b.transport.frames.map((f) => f.at)).toEqual([3218.75, 3238.75]);
    expect(b.transport.ops.at(-1)).toBe('remove');
  });

  it('stop(): priority 0, addresses removed; the backup takes over after its skew time', async () => {
    const { nodes, run, clock } = setup([
      ['A', inst(1, 100)],
      ['B', inst(2, 200)],
    ]);
    const [a, b] = nodes as [(typeof nodes)[0], (typeof nodes)[0]];
    a.router.start();
    b.router.start();
    await run(10_000);
    await b.router.stop();
    expect(b.transport.ops.slice(-2)).toEqual(['advert:0', 'remove']);
    expect(b.transport.addresses.size).toBe(0);
    const stoppedAt = clock.now();
    await run(5_000);
    expect(a.router.stateOf('vi')).toBe('master');
    expect(a.transport.adverts[0]?.at).toBe(stoppedAt + 609.375);
    // Stopped routers leave no timer behind.
    await a.router.stop();
    clock.advance(0); // A's priority 0 advert reaches B (stopped: ignored)
    expect(clock.pending).toBe(0);
  });

  it('stop() with a signal: the priority 0 goes out at once, the wait for a hung netlink can be abandoned', async () => {
    const { nodes, clock } = setup([['B', inst(2, 200)]]);
    const b = nodes[0] as (typeof nodes)[0];
    b.router.start();
    clock.advance(5000);
    await b.router.idle();
    b.transport.removeAddresses = () => new Promise<void>(() => undefined); // never answers
    const ac = new AbortController();
    const stopping = b.router.stop({ signal: ac.signal });
    expect(b.transport.ops.at(-1)).toBe('advert:0');
    expect(b.router.stateOf('vi')).toBe('initialize');
    ac.abort();
    await expect(stopping).rejects.toBeInstanceOf(AbortError);
    await expect(b.router.idle({ signal: ac.signal })).rejects.toBeInstanceOf(AbortError);
  });

  it('counts and reports what it discards, with rate-limited logs', async () => {
    const warns: string[] = [];
    const logger: Logger = {
      trace: () => undefined,
      debug: () => undefined,
      info: () => undefined,
      warn: (o: object | string, m?: string) => void warns.push(typeof o === 'string' ? o : (m ?? '')),
      error: () => undefined,
      fatal: () => undefined,
      child: () => logger,
    };
    const clock = new FakeClock();
    const wire = new Wire(clock);
    const r = new VrrpRouter({ instances: [inst(1, 100)], transport: new FakeTransport('A', wire), clock, logger });
    const invalid: string[] = [];
    r.on('invalid', (e) => invalid.push(e.verdict.reason));
    r.start();
    const good = encodeAdvert({ version: 3, family: 'ipv4', vrid: 51, priority: 200, maxAdvertIntervalCs: 100, addresses: ['192.0.2.100'] }, { src: '192.0.2.2', dst: '224.0.0.18' });
    const pkt = (over: Partial<ReceivedPacket>): ReceivedPacket => ({ family: 'ipv4', src: '192.0.2.2', dst: '224.0.0.18', ttl: 255, protocol: 112, payload: good, ...over });
    for (let i = 0; i < 10; i++) r.receive(pkt({ ttl: 64 }));
    r.receive(pkt({ payload: Uint8Array.of(0x31, 99) })); // VRID 99: not ours
    r.receive(pkt({}));
    expect(invalid).toEqual(Array<string>(10).fill('ttl'));
    expect(r.counters('vi')).toMatchObject({ ttl: 10, ok: 1 });
    expect(r.unclaimed).toBe(1);
    expect(warns.filter((w) => w.includes('TTL'))).toHaveLength(1);
    clock.advance(61_000);
    r.receive(pkt({ ttl: 1 }));
    expect(warns.filter((w) => w.includes('TTL'))).toHaveLength(2);
  });

  it('a failing transport or a throwing listener is not a crash: the state machine carries on', async () => {
    const { nodes, run } = setup([['B', inst(2, 200)]]);
    const b = nodes[0] as (typeof nodes)[0];
    const errors: string[] = [];
    b.router.on('transport-error', (e) => errors.push(`${e.op}:${(e.error as Error).message}`));
    b.router.on('transition', () => {
      throw new Error('notify hook bug');
    });
    b.transport.failAdverts = true;
    b.router.start();
    await run(10_000);
    expect(b.router.stateOf('vi')).toBe('master');
    // The listener threw on both transitions, yet the addresses went on and the timers ran.
    expect(b.transport.addresses.size).toBe(1);
    expect(errors.length).toBe(7);
    expect(new Set(errors)).toEqual(new Set(['sendAdvert:ENETDOWN']));
  });

  it('unicast peers: one advert per peer, each with its own pseudo-header checksum', async () => {
    const { nodes, run } = setup([['B', inst(2, 200, { unicastPeers: ['192.0.2.1', '192.0.2.3'] })]]);
    const b = nodes[0] as (typeof nodes)[0];
    b.router.start();
    await run(4000);
    const first = b.transport.adverts.slice(0, 2);
    expect(first.map((x) => x.dst)).toEqual(['192.0.2.1', '192.0.2.3']);
    for (const x of first) expect(verifyAdvertChecksum(x.payload, { version: 3, family: 'ipv4', src: x.src, dst: x.dst, accept: ['pseudo-header'] })).toBe('pseudo-header');
  });

  it('follows a peer that computes the v3 IPv4 checksum the RFC 9568 way', async () => {
    const clock = new FakeClock();
    const wire = new Wire(clock);
    const t = new FakeTransport('A', wire);
    const r = new VrrpRouter({ instances: [inst(1, 255, { primaryAddress: '192.0.2.100', ipv4Checksum: 'follow' })], transport: t, clock });
    r.start();
    await r.idle(); // the owner's first advert follows its addresses and GARPs
    expect(verifyAdvertChecksum(t.adverts[0]?.payload as Uint8Array, { version: 3, family: 'ipv4', src: '192.0.2.100', dst: '224.0.0.18' })).toBe('pseudo-header');
    const vendor = encodeAdvert(
      { version: 3, family: 'ipv4', vrid: 51, priority: 100, maxAdvertIntervalCs: 100, addresses: ['192.0.2.100'] },
      { src: '192.0.2.7', dst: '224.0.0.18', ipv4Checksum: 'plain' },
    );
    r.receive({ family: 'ipv4', src: '192.0.2.7', dst: '224.0.0.18', ttl: 255, protocol: 112, payload: vendor });
    // The owner answers the lower-priority advert at once, now in the vendor's form.
    expect(verifyAdvertChecksum(t.adverts.at(-1)?.payload as Uint8Array, { version: 3, family: 'ipv4', src: '192.0.2.100', dst: '224.0.0.18' })).toBe('plain');
  });

  it('tracking through the driver: a lost interface hands over, its return takes back', async () => {
    const { nodes, run } = setup([
      ['A', inst(1, 100)],
      ['B', inst(2, 200, { track: [{ object: 'eth1', weight: 150 }] })],
    ]);
    const [a, b] = nodes as [(typeof nodes)[0], (typeof nodes)[0]];
    a.router.start();
    b.router.start();
    await run(10_000);
    b.router.track('eth1', false);
    await run(10_000);
    expect([a.router.stateOf('vi'), b.router.stateOf('vi')]).toEqual(['master', 'backup']);
    b.router.track('eth1', true);
    await run(10_000);
    expect([a.router.stateOf('vi'), b.router.stateOf('vi')]).toEqual(['backup', 'master']);
    expect(() => b.router.stateOf('nope')).toThrow();
    expect(() => b.router.counters('nope')).toThrow();
  });

  it('IPv6: unsolicited NAs from the instance MAC, Router flag on request', async () => {
    const { nodes, run } = setup([
      [
        'B',
        inst(2, 200, {
          family: 'ipv6',
          vrid: 52,
          addresses: ['fe80::52', '2001:db8::52'],
          primaryAddress: 'fe80::2',
          mac: '00:00:5e:00:02:34',
          naRouterFlag: true,
          announce: { count: 1, repeatCount: 0 },
        }),
      ],
    ]);
    const b = nodes[0] as (typeof nodes)[0];
    b.router.start();
    await run(5000);
    expect(b.transport.frames.map((f) => f.frame)).toEqual([
      expect.objectContaining({ kind: 'na', target: 'fe80::52', router: true, override: true, solicited: false, targetMac: '00:00:5e:00:02:34', checksumOk: true }),
      expect.objectContaining({ kind: 'na', target: '2001:db8::52', router: true }),
    ]);
    expect(b.transport.adverts[0]).toMatchObject({ family: 'ipv6', src: 'fe80::2', dst: 'ff02::12' });
  });

  it('any bytes from the wire give a counted verdict, never an exception (property)', () => {
    const clock = new FakeClock();
    const r = new VrrpRouter({ instances: [inst(1, 100)], transport: new FakeTransport('A', new Wire(clock)), clock });
    r.start();
    let sent = 0;
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.integer({ min: 0, max: 255 }), (payload, ttl) => {
        // Half of them claim our VRID, so they reach validation.
        if (payload.length > 1 && ttl % 2 === 0) payload[1] = 51;
        r.receive({ family: 'ipv4', src: '192.0.2.9', dst: '224.0.0.18', ttl, protocol: 112, payload });
        sent++;
      }),
    );
    const c = r.counters('vi');
    const verdicts = Object.entries(c)
      .filter(([k]) => !['interval-mismatch', 'address-mismatch', 'priority-zero'].includes(k))
      .reduce((n, [, v]) => n + v, 0);
    expect(verdicts + r.unclaimed).toBe(sent);
  });
});
