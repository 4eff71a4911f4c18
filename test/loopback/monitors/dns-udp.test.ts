import { afterEach, describe, expect, it } from 'vitest';
import { DNS_RCODE, DNS_TYPE, decodeDnsMessage, encodeDnsMessage, parseIPv4, parseIPv6, type DnsMessage } from '../../../src/monitors/codec-dns.js';
import { DnsCheck } from '../../../src/monitors/check-dns.js';
import { UdpCheck } from '../../../src/monitors/check-udp.js';
import type { LoopbackHost } from '../harness/servers.js';
import { closedUdpPort, startUdp, type Closable } from './harness.js';

const open: Closable[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
});

type Mode = 'answer' | 'servfail' | 'silent' | 'wrong-id-first' | 'garbage';

/** A DNS server written for the test: answers svc.test A/AAAA from a table, or misbehaves as told. */
async function startDns(host: LoopbackHost, mode: () => Mode): Promise<Closable & { readonly received: number; readonly queries: DnsMessage[] }> {
  const queries: DnsMessage[] = [];
  const s = await startUdp(host, (msg, reply) => {
    const q = decodeDnsMessage(msg);
    queries.push(q);
    const m = mode();
    if (m === 'silent') return;
    if (m === 'garbage') {
      reply(Uint8Array.from([msg[0] ?? 0, msg[1] ?? 0, 0x81]));
      return;
    }
    const question = q.questions[0];
    const base: DnsMessage = { ...q, qr: true, ra: true, answers: [] };
    if (m === 'servfail') {
      reply(encodeDnsMessage({ ...base, rcode: DNS_RCODE.SERVFAIL }));
      return;
    }
    if (m === 'wrong-id-first') reply(encodeDnsMessage({ ...base, id: (q.id + 1) & 0xffff, rcode: DNS_RCODE.REFUSED }));
    if (question?.name === 'svc.test' && question.type === DNS_TYPE.A) {
      base.answers = [{ name: 'svc.test', type: DNS_TYPE.A, class: 1, ttl: 30, data: parseIPv4('192.0.2.7') }];
    } else if (question?.name === 'svc.test' && question.type === DNS_TYPE.AAAA) {
      base.answers = [{ name: 'svc.test', type: DNS_TYPE.AAAA, class: 1, ttl: 30, data: parseIPv6('2001:db8::7') }];
    } else {
      base.rcode = DNS_RCODE.NXDOMAIN;
    }
    reply(encodeDnsMessage(base));
  });
  open.push(s);
  return Object.assign(s, { queries });
}

describe.each<LoopbackHost>(['127.0.0.1', '::1'])('DNS check against %s', (host) => {
  it('is up on NOERROR with the expected A and AAAA answers', async () => {
    const s = await startDns(host, () => 'answer');
    const a = await new DnsCheck({ name: 'svc.test', expectAnswer: '192.0.2.7' }).check({ address: host, port: s.port });
    expect(a).toMatchObject({ ok: true, details: { rcode: 0, answers: [{ type: 'A', value: '192.0.2.7' }] } });
    const aaaa = await new DnsCheck({ name: 'svc.test', type: 'AAAA', expectAnswer: /^2001:db8::/ }).check({ address: host, port: s.port });
    expect(aaaa.ok).toBe(true);
    expect(s.queries.map((q) => [q.questions[0]?.name, q.questions[0]?.type, q.rd])).toEqual([
      ['svc.test', 1, true],
      ['svc.test', 28, true],
    ]);
  });

  it('is down when the answer is not the expected one, and on an unexpected rcode', async () => {
    const s = await startDns(host, () => 'answer');
    const wrong = await new DnsCheck({ name: 'svc.test', expectAnswer: '192.0.2.8' }).check({ address: host, port: s.port });
    expect(wrong.ok).toBe(false);
    expect(wrong.reason).toMatch(/no answer matched 192\.0\.2\.8/);
    const nx = await new DnsCheck({ name: 'nothing.test' }).check({ address: host, port: s.port });
    expect(nx).toMatchObject({ ok: false, reason: 'DNS NXDOMAIN' });
    const nxOk = await new DnsCheck({ name: 'nothing.test', expectRcode: [DNS_RCODE.NOERROR, DNS_RCODE.NXDOMAIN] }).check({ address: host, port: s.port });
    expect(nxOk.ok).toBe(true);
    const predicate = await new DnsCheck({ name: 'svc.test', type: DNS_TYPE.A, expectAnswer: (ans) => ans.length === 1 }).check({ address: host, port: s.port });
    expect(predicate.ok).toBe(true);
  });

  it('is down when the answer predicate throws, never an uncaught exception', async () => {
    const s = await startDns(host, () => 'answer');
    const r = await new DnsCheck({
      name: 'svc.test',
      expectAnswer: () => {
        throw new Error('oops');
      },
    }).check({ address: host, port: s.port });
    expect(r).toMatchObject({ ok: false, reason: 'expectAnswer threw: oops' });
  });

  it('is down on SERVFAIL', async () => {
    const s = await startDns(host, () => 'servfail');
    expect(await new DnsCheck({ name: 'svc.test' }).check({ address: host, port: s.port })).toMatchObject({ ok: false, reason: 'DNS SERVFAIL', details: { rcode: 2 } });
  });

  it('times out when the server answers nothing', async () => {
    const s = await startDns(host, () => 'silent');
    const t0 = performance.now();
    const r = await new DnsCheck({ name: 'svc.test', timeoutMs: 150 }).check({ address: host, port: s.port });
    expect(r).toMatchObject({ ok: false, reason: 'timed out after 150 ms' });
    expect(performance.now() - t0).toBeLessThan(750);
    expect(s.received).toBe(1);
  });

  it('ignores a reply with another id and takes the one that matches', async () => {
    const s = await startDns(host, () => 'wrong-id-first');
    expect(await new DnsCheck({ name: 'svc.test', timeoutMs: 2000 }).check({ address: host, port: s.port })).toMatchObject({ ok: true });
  });

  it('is down on a malformed reply to its query', async () => {
    const s = await startDns(host, () => 'garbage');
    const r = await new DnsCheck({ name: 'svc.test', timeoutMs: 2000 }).check({ address: host, port: s.port });
    expect(r.ok).toBe(false);
    expect(r.reason).toMatch(/^malformed reply/);
  });

  it('is down at once when the port is closed (ICMP port unreachable)', async () => {
    const port = await closedUdpPort(host);
    const t0 = performance.now();
    const r = await new DnsCheck({ name: 'svc.test', timeoutMs: 3000 }).check({ address: host, port });
    expect(r).toMatchObject({ ok: false, reason: 'port unreachable (ICMP, ECONNREFUSED)' });
    expect(performance.now() - t0).toBeLessThan(2000);
  });
});

describe.each<LoopbackHost>(['127.0.0.1', '::1'])('UDP check against %s', (host) => {
  it('is down when the port is closed (ICMP port unreachable)', async () => {
    const port = await closedUdpPort(host);
    const r = await new UdpCheck({ payload: 'ping', timeoutMs: 3000 }).check({ address: host, port });
    expect(r).toMatchObject({ ok: false, reason: 'port unreachable (ICMP, ECONNREFUSED)', details: { icmp: 'port-unreachable' } });
  });

  it('is up when nothing comes back from an open port within the quiet time', async () => {
    const s = await startUdp(host, () => undefined);
    open.push(s);
    const r = await new UdpCheck({ payload: 'ping', quietMs: 100 }).check({ address: host, port: s.port });
    expect(r).toMatchObject({ ok: true, reason: 'sent; no reply and no ICMP error within 100 ms' });
    expect(s.received).toBe(1);
  });

  it('with an expected reply: up on a match, down on a mismatch or silence', async () => {
    let answer = 'PONG v1';
    const s = await startUdp(host, (msg, reply) => {
      if (answer !== '') reply(new TextEncoder().encode(`${answer} to ${msg.toString()}`));
    });
    open.push(s);
    expect(await new UdpCheck({ payload: 'PING', expectReply: /^PONG/ }).check({ address: host, port: s.port })).toMatchObject({ ok: true });
    expect(await new UdpCheck({ payload: 'PING', expectReply: true }).check({ address: host, port: s.port })).toMatchObject({ ok: true });
    answer = 'ERR';
    expect(await new UdpCheck({ payload: 'PING', expectReply: 'PONG' }).check({ address: host, port: s.port })).toMatchObject({ ok: false, reason: 'reply did not match PONG' });
    answer = '';
    expect(await new UdpCheck({ payload: 'PING', expectReply: true, timeoutMs: 100 }).check({ address: host, port: s.port })).toMatchObject({ ok: false, reason: 'timed out after 100 ms' });
  });
});

describe('DNS check configuration', () => {
  it('refuses a bad name or type', () => {
    expect(() => new DnsCheck({ name: 'a..b' })).toThrow(/bad DNS name/);
    expect(() => new DnsCheck({ name: 'ok.test', type: 70000 })).toThrow(/bad DNS type/);
  });
});
