/**
 * `/alerts` text: the first line carries the status and every problem of that
 * level; lesser problems follow one a line; nothing is printed twice.
 */
import { describe, expect, it } from 'vitest';
import { alertsText } from '../../../examples/director/status.js';

describe('/alerts text', () => {
  const d = { services: new Map(), announced: new Map() } as unknown as Parameters<typeof alertsText>[1];

  it('one problem: one line', () => {
    const text = alertsText({ status: 'CRITICAL', alerts: [{ level: 'CRITICAL', component: 'pool web', message: 'depool threshold holding 1 failed server(s) pooled (web2)' }] }, d);
    expect(text).toBe('CRITICAL: pool web: depool threshold holding 1 failed server(s) pooled (web2)\n');
  });

  it('a CRITICAL and WARNINGs: the CRITICALs on the first line, each WARNING on its own', () => {
    const text = alertsText({
      status: 'CRITICAL',
      alerts: [
        { level: 'CRITICAL', component: 'pool web', message: 'no server pooled' },
        { level: 'CRITICAL', component: 'bgp 192.0.2.1', message: 'session Idle' },
        { level: 'WARNING', component: 'sysctl', message: 'net.ipv4.vs.sloppy_tcp is 0, configured 1' },
      ],
    }, d);
    expect(text).toBe('CRITICAL: pool web: no server pooled; bgp 192.0.2.1: session Idle\nWARNING sysctl: net.ipv4.vs.sloppy_tcp is 0, configured 1\n');
  });
});
