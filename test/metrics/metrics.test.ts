// The SLI metrics operators run Strongroom by, scraped from a running CA's /metrics; and the shipped alert rules and
// Grafana dashboard, checked against what /metrics really exposes (a renamed metric fails here, not at 3 a.m.).
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { buildCsr, cnName, extensionRequest, gn, pem, san } from '../csr/support.ts';
import { call, issue, startTestCa, type TestCa } from '../http/fixture.ts';
import { waitForCrl } from '../http/crl-support.ts';

const csr = (dns: string) => pem(buildCsr({ keyPair: generateKeyPairSync('ec', { namedCurve: 'P-256' }), subject: cnName(dns), attributes: extensionRequest(san(gn.dns(dns))) }));
const DOCS = new URL('../../docs/', import.meta.url);

/** Metric families from the exposition format's # TYPE lines, with their sample-name suffixes. */
function families(text: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const [, name, type] of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) m.set(name!, type!);
  return m;
}

/** The family a series name in a PromQL expression belongs to (histogram series carry _bucket/_sum/_count). */
function familyOf(series: string, known: Map<string, string>): string | undefined {
  if (known.has(series)) return series;
  const base = series.replace(/_(bucket|sum|count)$/, '');
  return known.get(base) === 'histogram' || known.get(base) === 'summary' ? base : undefined;
}

function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('SLI metrics', () => {
  let t: TestCa;
  let text: string;
  const before = Date.now();

  beforeAll(async () => {
    t = await startTestCa('metrics', { config: { metrics: { refreshIntervalMs: 200 } } });
    const token = await t.client('alice', { profiles: ['tls-server'], names: { dns: ['*.svc.internal'] } });
    expect((await issue(t, token, { csr: csr('a.svc.internal'), profile: 'tls-server' })).status).toBe(201);
    await waitForCrl(t, 1n);
    // What `strongroom drill restore` records (test/drill/ runs the real thing).
    await t.ca.audit.append({ actor: 'strongroom', action: 'drill.restore', details: { outcome: 'ok', newestBackupAt: '2026-11-01T00:00:00.000Z', keys: [] } });
    await t.ca.audit.append({ actor: 'strongroom', action: 'drill.restore', details: { outcome: 'failed', error: 'test' } });
    // The database-backed gauges are refreshed every 200 ms here.
    for (let i = 0; i < 50; i++) {
      text = (await call<Buffer>(`${t.url}/metrics`)).body.toString('utf8');
      if (/strongroom_crl_expiry_days\{ca="issuing-ca"\}/.test(text) && (sample(text, 'strongroom_restore_drill_last_failure_timestamp_seconds') ?? 0) > 0) break;
      await new Promise((r) => setTimeout(r, 200));
    }
  }, 120_000);
  afterAll(async () => t?.close());

  it('HSM availability per token, operations by outcome, latency by key, rejections, queue depth per priority', () => {
    expect(text).toMatch(/^strongroom_hsm_token_up\{token="primary"\} 1$/m);
    expect(text).toMatch(/^strongroom_hsm_operations_total\{token="primary",operation="sign",outcome="ok"\} [1-9]/m);
    expect(text).toMatch(/^strongroom_hsm_operation_seconds_bucket\{le="0\.1",token="primary",operation="sign",key="issuing-ca",outcome="ok"\} [1-9]/m);
    expect(families(text).get('strongroom_hsm_rejected_total')).toBe('counter');
    for (const p of ['high', 'normal', 'low']) expect(text).toMatch(new RegExp(`^strongroom_hsm_queue_depth\\{priority="${p}"\\} 0$`, 'm'));
  });

  it('audit events written: the audit log head', () => {
    expect(sample(text, 'strongroom_audit_events_written')).toBeGreaterThanOrEqual(4);
  });

  it('days until the CA certificate and its CRL expire', () => {
    const ca = Number(/^strongroom_certificate_expiry_days\{kind="ca",name="issuing-ca"\} (\S+)$/m.exec(text)?.[1]);
    // The fixture's issuing CA ends 2031-12-31.
    expect(ca).toBeCloseTo((Date.parse('2031-12-31T00:00:00Z') - Date.now()) / 86_400_000, -1);
    const crl = Number(/^strongroom_crl_expiry_days\{ca="issuing-ca"\} (\S+)$/m.exec(text)?.[1]);
    expect(crl).toBeGreaterThan(6.9); // crl.validitySeconds defaults to 7 days
    expect(crl).toBeLessThanOrEqual(7);
  });

  it('OCSP responder (and TSA, HTTPS) certificates are listed by kind', () => {
    expect(text).toMatch(/^strongroom_certificate_expiry_days\{kind="ocsp",name="issuing-ca"\} (2\d|30)\.\d+$/m);
  });

  it('last successful restore drill and backup, last failed drill: from the audit log', () => {
    const ok = sample(text, 'strongroom_restore_drill_last_success_timestamp_seconds')!;
    const failed = sample(text, 'strongroom_restore_drill_last_failure_timestamp_seconds')!;
    expect(ok * 1000).toBeGreaterThanOrEqual(before - 1000);
    expect(failed).toBeGreaterThanOrEqual(ok);
    expect(sample(text, 'strongroom_key_backup_last_success_timestamp_seconds')).toBe(Date.parse('2026-11-01T00:00:00Z') / 1000);
  });

  it('revocation-to-CRL time and rate-limit rejections are exposed', () => {
    expect(families(text).get('strongroom_revocation_to_crl_seconds')).toBe('histogram');
    expect(families(text).get('strongroom_rate_limited_total')).toBe('counter');
  });

  it('survives a restart: the drill gauges are read back from the audit log', async () => {
    const { createCaServer } = await import('../../ca/server/index.ts');
    const { serverConfig } = await import('../http/fixture.ts');
    const again = await createCaServer({ config: serverConfig(t.chain, { metrics: { refreshIntervalMs: 60_000 } }), pin: t.chain.token.pin, database: t.db.knex });
    try {
      await again.listen();
      const fresh = await again.metrics.render();
      expect(sample(fresh, 'strongroom_restore_drill_last_success_timestamp_seconds')).toBe(sample(text, 'strongroom_restore_drill_last_success_timestamp_seconds'));
    } finally {
      await again.close();
    }
  }, 60_000);

  describe('docs/prometheus/alerts.yml', () => {
    const doc = parse(readFileSync(new URL('prometheus/alerts.yml', DOCS), 'utf8')) as { groups: { name: string; rules: Record<string, unknown>[] }[] };
    const rules = doc.groups.flatMap((g) => g.rules);

    it('is a Prometheus rule file: named groups of alerts with expr, labels.severity and a summary', () => {
      expect(doc.groups.length).toBeGreaterThan(0);
      for (const g of doc.groups) {
        expect(typeof g.name).toBe('string');
        expect(Array.isArray(g.rules)).toBe(true);
      }
      const allowed = new Set(['alert', 'expr', 'for', 'labels', 'annotations', 'keep_firing_for']);
      for (const r of rules) {
        expect(Object.keys(r).filter((k) => !allowed.has(k)), String(r.alert)).toEqual([]);
        expect(r.alert).toMatch(/^Strongroom[A-Za-z0-9]+$/);
        expect(typeof r.expr).toBe('string');
        if (r.for !== undefined) expect(r.for).toMatch(/^\d+[smhd]$/);
        expect((r.labels as Record<string, string>).severity).toMatch(/^(page|ticket)$/);
        expect(typeof (r.annotations as Record<string, string>).summary).toBe('string');
      }
      expect(new Set(rules.map((r) => r.alert)).size).toBe(rules.length);
    });

    it('has the alerts operators asked for', () => {
      const names = rules.map((r) => r.alert);
      for (const a of ['StrongroomHsmTokenDown', 'StrongroomHsmUnavailable', 'StrongroomHsmErrorRatio', 'StrongroomHsmLatencyP99OverSlo', 'StrongroomCertificateExpiring', 'StrongroomCrlExpiring', 'StrongroomRestoreDrillOverdue', 'StrongroomHsmQueueSaturation']) {
        expect(names).toContain(a);
      }
    });

    it('every expression references only metrics that /metrics exposes', () => {
      const known = families(text);
      for (const r of rules) {
        const series = [...(r.expr as string).matchAll(/\bstrongroom_[a-z0-9_]+/g)].map((m) => m[0]);
        expect(series.length, String(r.alert)).toBeGreaterThan(0);
        for (const s of series) expect(familyOf(s, known), `${String(r.alert)}: ${s}`).toBeDefined();
      }
    });
  });

  describe('docs/grafana/strongroom.json', () => {
    const dash = JSON.parse(readFileSync(new URL('grafana/strongroom.json', DOCS), 'utf8')) as { panels: { type: string; title: string; targets?: { expr: string }[] }[] };

    it('has executive, on-call and debug rows, and every query uses exposed metrics', () => {
      expect(dash.panels.filter((p) => p.type === 'row').map((p) => p.title)).toEqual(['Executive', 'On-call', 'Debug']);
      const known = families(text);
      for (const p of dash.panels.filter((p) => p.type !== 'row')) {
        expect(p.targets?.length, p.title).toBeGreaterThan(0);
        for (const target of p.targets!) {
          for (const [s] of target.expr.matchAll(/\bstrongroom_[a-z0-9_]+/g)) expect(familyOf(s, known), `${p.title}: ${s}`).toBeDefined();
        }
      }
    });
  });
});
