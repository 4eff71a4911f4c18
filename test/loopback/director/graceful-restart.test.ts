/**
 * A planned restart with BGP graceful restart (RFC 4724): `stop({ restart: true })`
 * keeps the VIP's route in the router (marked stale, still there), leaves a
 * marker in `stateDir`; the next director says it restarted (R bit), refreshes
 * the route (no longer stale) and consumes the marker. A plain stop withdraws.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { noopLogger } from 'lvskit';
import { BgpSpeaker, type NegotiatedSession } from 'lvskit/bgp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig, startDirector, type DirectorConfig } from '../../../examples/director/index.js';

async function until(what: string, fn: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('director restart with BGP graceful restart', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lvskit-director-gr-'));
  let web: Server;
  let router: BgpSpeaker;
  let cfg: DirectorConfig;
  const sessions: NegotiatedSession[] = [];

  beforeAll(async () => {
    web = createServer((_q, r) => r.end('ok\n'));
    await new Promise<void>((r) => web.listen(0, '127.0.0.1', r));
    router = new BgpSpeaker({
      localAs: 65000,
      routerId: '10.0.0.254',
      listen: { address: '127.0.0.1', port: 0 },
      peers: [{ address: '127.0.0.3', remoteAs: 64512, passive: true }],
      gracefulRestart: { restartTime: 60 },
    });
    router.on('peer-up', (_p, s) => sessions.push(s));
    await router.start();
    cfg = parseConfig(
      `dryRun: true
stateDir: ${dir}
status: false
ipvs: { startupWaitMs: 5s }
bgp:
  localAs: 64512
  routerId: 10.0.0.3
  gracefulRestart: { restartTime: 60 }
  peers: [{ address: 127.0.0.1, port: ${router.port}, localAddress: 127.0.0.3, remoteAs: 65000 }]
services:
  web:
    vip: 192.0.2.70
    port: 80
    forwarding: masq
    checks: [{ type: http, intervalMs: 200 }]
    servers: [{ host: rs1, address: 127.0.0.1, port: ${(web.address() as AddressInfo).port} }]
`,
      join(dir, 'director.yaml'),
    );
  });

  afterAll(async () => {
    await router?.close();
    web?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const route = () => router.routesReceived().find((r) => r.prefix === '192.0.2.70/32');

  it('keeps the route through a restart, then a plain stop withdraws it', async () => {
    const d1 = await startDirector(cfg, { logger: noopLogger });
    await until('route at the router', () => route() !== undefined);
    expect(sessions[0]?.peerGracefulRestart).toMatchObject({ restarting: false, restartTime: 60 });

    await d1.stop({ restart: true });
    expect(existsSync(join(dir, 'graceful-restart'))).toBe(true);
    await until('router saw the session go', () => router.peers()[0]?.state !== 'Established');
    await new Promise((r) => setTimeout(r, 300));
    expect(route()).toMatchObject({ stale: true });

    const d2 = await startDirector(cfg, { logger: noopLogger });
    await until('second session', () => sessions.length === 2);
    expect(sessions[1]?.peerGracefulRestart).toMatchObject({ restarting: true });
    expect(existsSync(join(dir, 'graceful-restart'))).toBe(false);
    await until('route refreshed', () => route()?.stale === false);

    await d2.stop();
    await until('route withdrawn', () => route() === undefined);
  }, 40_000);
});
