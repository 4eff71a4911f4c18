import { describe, expect, it } from 'vitest';
import { LATENCY_BUCKETS_SECONDS, MonitorMetrics, escapeLabel, renderPrometheus } from '../../../src/monitors/metrics.js';
import { emptyPoolState, planPool } from '../../../src/monitors/plan-pool.js';

describe('monitor metrics', () => {
  it('counts results, timeouts and latency buckets per check', () => {
    const m = new MonitorMetrics();
    const l = { service: 'web', server: '10.0.0.1:80', check: 'http', kind: 'http' };
    m.recordCheck(l, { ok: true, reason: 'HTTP 200', latencyMs: 0.5 });
    m.recordCheck(l, { ok: true, reason: 'HTTP 200', latencyMs: 30 });
    m.recordCheck(l, { ok: false, reason: 'timed out after 2000 ms', latencyMs: 2000, details: { timeout: true } });
    m.recordCheck(l, { ok: false, reason: 'slow', latencyMs: 60_000 });
    const [s] = m.snapshot().checks;
    expect(s).toMatchObject({ up: 2, down: 2, timeouts: 1, lastOk: false, lastLatencyMs: 60_000 });
    expect(s?.bucketCounts).toHaveLength(LATENCY_BUCKETS_SECONDS.length + 1);
    expect(s?.bucketCounts[0]).toBe(1); // 0.5 ms <= 1 ms
    expect(s?.bucketCounts[LATENCY_BUCKETS_SECONDS.indexOf(0.05)]).toBe(1); // 30 ms
    expect(s?.bucketCounts[LATENCY_BUCKETS_SECONDS.indexOf(2.5)]).toBe(1); // 2 s
    expect(s?.bucketCounts.at(-1)).toBe(1); // 60 s: +Inf
    expect(s?.latencySumSeconds).toBeCloseTo(62.0305, 6);
  });

  it('counts server transitions and forgets removed servers', () => {
    const m = new MonitorMetrics();
    m.recordServer('web', 'a', false, true);
    m.recordServer('web', 'a', true, true);
    m.recordServer('web', 'a', true, true);
    m.recordServer('web', 'a', false, false);
    m.recordCheck({ service: 'web', server: 'a', check: 'c', kind: 'tcp' }, { ok: true, reason: '', latencyMs: 1 });
    expect(m.snapshot().servers).toEqual([{ service: 'web', server: 'a', up: false, enabled: false, toUp: 1, toDown: 1 }]);
    m.removeServer('web', 'a');
    expect(m.snapshot()).toEqual({ checks: [], servers: [], pools: [] });
  });

  it('renders the Prometheus text format with cumulative buckets and escaped labels', () => {
    const m = new MonitorMetrics();
    const l = { service: 'we"b\\x\ny', server: '[2001:db8::1]:443', check: 'https', kind: 'https' };
    m.recordCheck(l, { ok: true, reason: '', latencyMs: 4 });
    m.recordCheck(l, { ok: false, reason: '', latencyMs: 300, details: { timeout: true } });
    m.recordServer('web', 'a', true, true);
    const members = [{ id: 'a', address: '10.0.0.1', port: 80, weight: 1, enabled: true, healthy: true }];
    m.recordPool('web', planPool({}, members, emptyPoolState(), 0));
    const text = renderPrometheus(m.snapshot());
    const L = 'service="we\\"b\\\\x\\ny",server="[2001:db8::1]:443",check="https",kind="https"';
    expect(text).toContain(`lvskit_monitor_check_results_total{${L},result="up"} 1\n`);
    expect(text).toContain(`lvskit_monitor_check_results_total{${L},result="down"} 1\n`);
    expect(text).toContain(`lvskit_monitor_check_timeouts_total{${L}} 1\n`);
    expect(text).toContain(`lvskit_monitor_check_last_ok{${L}} 0\n`);
    expect(text).toContain(`lvskit_monitor_check_duration_seconds_bucket{${L},le="0.001"} 0\n`);
    expect(text).toContain(`lvskit_monitor_check_duration_seconds_bucket{${L},le="0.005"} 1\n`);
    expect(text).toContain(`lvskit_monitor_check_duration_seconds_bucket{${L},le="0.5"} 2\n`);
    expect(text).toContain(`lvskit_monitor_check_duration_seconds_bucket{${L},le="+Inf"} 2\n`);
    expect(text).toContain(`lvskit_monitor_check_duration_seconds_count{${L}} 2\n`);
    expect(text).toContain(`lvskit_monitor_check_duration_seconds_sum{${L}} 0.304\n`);
    expect(text).toContain('lvskit_monitor_server_up{service="web",server="a"} 1\n');
    expect(text).toContain('lvskit_pool_servers{service="web",status="pooled"} 1\n');
    expect(text).toContain('lvskit_pool_floor{service="web"} 1\n');
    expect(text).toContain('lvskit_pool_alert{service="web"} 0\n');
    expect(text).toContain('# TYPE lvskit_monitor_check_duration_seconds histogram\n');
    // Every sample line: name{labels} value
    for (const line of text.trimEnd().split('\n')) {
      if (line.startsWith('#')) expect(line).toMatch(/^# (HELP|TYPE) lvskit_[a-z_]+ .+$/);
      else expect(line).toMatch(/^lvskit_[a-z_]+(\{.*\})? -?[0-9.e+-]+$|^lvskit_[a-z_]+\{.*\} \+Inf$/);
    }
    expect(escapeLabel('a"b')).toBe('a\\"b');
  });
});
