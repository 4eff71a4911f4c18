// Kernel tier, INSIDE the VM, in a director's network namespace (started by director-e2e.mjs with an IPC
// channel): runs the example director (dist/director, the built `startDirector`) on the namespace's
// real IPVS, and reports what it does, each with the time it happened (Date.now(): one clock in the VM).
//   in:  { op: 'start', config }        YAML text -> { mode, bgpPort }
//        { op: 'get', path }            GET on its status API -> { status, body }
//        { op: 'etcd-put', key, value } through etcd's JSON gateway on 127.0.0.1:2379 -> { at }
//        { op: 'ipvs' }                 its netlink read of the table -> { services: { 'vip:port': { conns, dests } } }
//        { op: 'stop', restart }        d.stop({ restart }) then exit
//   out: { event: 'ipvs' | 'member' | 'announce', at, ... }
import fs from 'node:fs';
import { pino } from 'pino';
import { parseConfig, startDirector } from '../../../dist/director/index.js';

const name = process.argv[2] ?? 'director';
const logger = pino({ level: 'info', base: { d: name } }, pino.destination({ dest: `/tmp/${name}.log`, sync: true, append: true }));
let d;

const send = (m) => { if (process.connected) process.send(m); };

async function etcdPut(key, value) {
  const b64 = (s) => Buffer.from(s).toString('base64');
  const r = await globalThis.fetch('http://127.0.0.1:2379/v3/kv/put', { method: 'POST', body: JSON.stringify({ key: b64(key), value: b64(value) }) });
  if (!r.ok) throw new Error(`etcd put ${key}: HTTP ${r.status} ${await r.text()}`);
  await r.text();
  return Date.now();
}

async function handle(m) {
  switch (m.op) {
    case 'start': {
      const file = `/tmp/${name}.yaml`;
      fs.writeFileSync(file, m.config);
      d = await startDirector(parseConfig(m.config, file), { logger });
      d.on('ipvs', (a) => send({ event: 'ipvs', at: a.at, done: Date.now(), reason: a.reason, commands: a.commands }));
      d.on('member', (e) => send({ event: 'member', at: Date.now(), ...e }));
      d.on('announce', (e) => send({ event: 'announce', at: Date.now(), ...e }));
      return { mode: d.mode, status: d.status() };
    }
    case 'dests': {
      // The director's own netlink read of the kernel table: { vip: { 'address:port': weight } }.
      const out = {};
      for (const svc of await d.ipvsTable()) {
        if (svc.address === undefined) continue;
        out[svc.address] = Object.fromEntries((svc.destinations ?? []).map((x) => [`${x.address}:${x.port}`, x.weight]));
      }
      return { dests: out };
    }
    case 'ipvs': {
      // Per virtual service ('vip:port'): connections scheduled so far and { 'address:port': weight }.
      const services = {};
      for (const svc of await d.ipvsTable()) {
        if (svc.address === undefined) continue;
        services[`${svc.address}:${svc.port}`] = { conns: Number(svc.stats?.conns ?? 0), dests: Object.fromEntries((svc.destinations ?? []).map((x) => [`${x.address}:${x.port}`, x.weight])) };
      }
      return { services };
    }
    case 'status':
      return { status: d.status() };
    case 'get': {
      const r = await globalThis.fetch(`${d.statusUrl}${m.path}`, m.json ? { headers: { accept: 'application/json' } } : {});
      return { status: r.status, body: await r.text() };
    }
    case 'etcd-put':
      return { at: await etcdPut(m.key, m.value) };
    case 'stop': {
      await d?.stop({ restart: m.restart === true });
      setTimeout(() => process.exit(0), 50);
      return { at: Date.now() };
    }
    default:
      throw new Error(`unknown op ${m.op}`);
  }
}

process.on('message', (m) => {
  handle(m).then(
    (r) => send({ id: m.id, ok: true, ...r }),
    (e) => send({ id: m.id, ok: false, error: String(e?.stack ?? e) }),
  );
});
// The orchestrator died: leave as a crash would (no withdraw), never linger.
process.on('disconnect', () => process.exit(1));
send({ ready: true });
