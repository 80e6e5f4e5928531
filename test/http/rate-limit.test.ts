// Per-client rate limits: the token bucket and the limiter, table-driven on a fake clock; then over HTTP, a CA with
// limits configured answering 429 + Retry-After (before the body is read, no serial taken, no HSM call), per client,
// per profile, revocation sharing the client's bucket, and the 429s counted in /metrics.
import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCaServerConfig } from '../../ca/server/config.ts';
import { ClientRateLimiter } from '../../ca/limits/client-rate-limiter.ts';
import type { LimitsConfig } from '../../ca/limits/limits-config.ts';
import { buildCsr, cnName, extensionRequest, gn, pem, san } from '../csr/support.ts';
import { call, issue, startTestCa, type TestCa } from './fixture.ts';

type PerClient = NonNullable<LimitsConfig['perClient']>;
const limits = (c: Partial<PerClient>): PerClient => ({ clients: {}, profiles: {}, ...c });

/** A step: at time `at` (ms), ask for `client` (and `profile`); expect that many seconds to wait (0: allowed). */
type Step = { at: number; client: string; profile?: string; wait: number };

describe('ClientRateLimiter (fake clock)', () => {
  const cases: { name: string; config: PerClient; steps: Step[] }[] = [
    {
      name: 'burst, then refused until a token refills',
      config: limits({ default: { ratePerSecond: 2, burst: 3 } }),
      steps: [
        { at: 0, client: 'a', wait: 0 },
        { at: 0, client: 'a', wait: 0 },
        { at: 0, client: 'a', wait: 0 },
        { at: 0, client: 'a', wait: 0.5 },
        { at: 250, client: 'a', wait: 0.25 },
        { at: 500, client: 'a', wait: 0 },
        { at: 500, client: 'a', wait: 0.5 },
      ],
    },
    {
      name: 'each client has its own bucket',
      config: limits({ default: { ratePerSecond: 1, burst: 1 } }),
      steps: [
        { at: 0, client: 'a', wait: 0 },
        { at: 0, client: 'a', wait: 1 },
        { at: 0, client: 'b', wait: 0 },
      ],
    },
    {
      name: 'a named client gets its own rate; others the default',
      config: limits({ default: { ratePerSecond: 1, burst: 1 }, clients: { ci: { ratePerSecond: 10, burst: 2 } } }),
      steps: [
        { at: 0, client: 'ci', wait: 0 },
        { at: 0, client: 'ci', wait: 0 },
        { at: 0, client: 'ci', wait: 0.1 },
        { at: 0, client: 'other', wait: 0 },
        { at: 0, client: 'other', wait: 1 },
      ],
    },
    {
      name: 'no default: only named clients are limited',
      config: limits({ clients: { noisy: { ratePerSecond: 1, burst: 1 } } }),
      steps: [
        { at: 0, client: 'noisy', wait: 0 },
        { at: 0, client: 'noisy', wait: 1 },
        ...Array.from({ length: 50 }, () => ({ at: 0, client: 'quiet', wait: 0 })),
      ],
    },
    {
      name: 'a profile bucket per client, only for that profile',
      config: limits({ profiles: { 'code-signing': { ratePerSecond: 0.1, burst: 1 } } }),
      steps: [
        { at: 0, client: 'a', profile: 'code-signing', wait: 0 },
        { at: 0, client: 'a', profile: 'code-signing', wait: 10 },
        { at: 0, client: 'b', profile: 'code-signing', wait: 0 },
        { at: 0, client: 'a', profile: 'tls-server', wait: 0 },
        { at: 10_000, client: 'a', profile: 'code-signing', wait: 0 },
      ],
    },
    {
      name: 'a clock stepping back refills nothing',
      config: limits({ default: { ratePerSecond: 1, burst: 1 } }),
      steps: [
        { at: 5000, client: 'a', wait: 0 },
        { at: 1000, client: 'a', wait: 1 },
        { at: 6000, client: 'a', wait: 0 },
      ],
    },
  ];

  it.each(cases)('$name', ({ config, steps }) => {
    let now = 0;
    const limiter = new ClientRateLimiter(config, () => now);
    for (const [i, s] of steps.entries()) {
      now = s.at;
      const wait = s.profile === undefined ? limiter.client(s.client) : limiter.profile(s.client, s.profile);
      expect(wait, `step ${i}`).toBeCloseTo(s.wait, 6);
    }
  });

  it('forgets full buckets, so memory follows active clients', () => {
    let now = 0;
    const limiter = new ClientRateLimiter(limits({ default: { ratePerSecond: 1000, burst: 1 } }), () => now);
    for (let i = 0; i < 5000; i++) {
      now = i * 10;
      expect(limiter.client(`client-${i}`)).toBe(0);
    }
    expect((limiter as unknown as { buckets: Map<string, unknown> }).buckets.size).toBeLessThan(1100);
  });
});

describe('limits config', () => {
  const base = { hsm: { module: '/usr/lib/softhsm/libsofthsm2.so', token: { label: 'x' } } };
  it.each([
    { name: 'absent: off', limits: undefined, ok: true },
    { name: 'a default and a client', limits: { perClient: { default: { ratePerSecond: 5, burst: 20 }, clients: { ci: { ratePerSecond: 50, burst: 100 } } } }, ok: true },
    { name: 'fractional rates', limits: { perClient: { profiles: { 'code-signing': { ratePerSecond: 0.001, burst: 1 } } } }, ok: true },
    { name: 'an unknown key', limits: { perClient: { default: { ratePerSecond: 5, burst: 20, window: 1 } } }, ok: false },
    { name: 'a misspelled section', limits: { perClients: {} }, ok: false },
    { name: 'a zero rate', limits: { perClient: { default: { ratePerSecond: 0, burst: 1 } } }, ok: false },
    { name: 'a fractional burst', limits: { perClient: { default: { ratePerSecond: 1, burst: 1.5 } } }, ok: false },
  ])('$name', ({ limits: l, ok }) => {
    const parse = () => parseCaServerConfig({ ...base, ...(l !== undefined ? { limits: l } : {}) });
    if (ok) expect(parse().limits.perClient === undefined).toBe(l === undefined);
    else expect(parse).toThrow();
  });
});

describe('rate limits over HTTP', () => {
  let t: TestCa;
  const tokens: Record<string, string> = {};
  const csr = (dns: string) => pem(buildCsr({ keyPair: generateKeyPairSync('ec', { namedCurve: 'P-256' }), subject: cnName(dns), attributes: extensionRequest(san(gn.dns(dns))) }));

  beforeAll(async () => {
    t = await startTestCa('ratelimit', {
      config: {
        limits: {
          perClient: {
            default: { ratePerSecond: 0.05, burst: 2 },
            clients: { fast: { ratePerSecond: 1000, burst: 1000 }, profiled: { ratePerSecond: 1000, burst: 1000 } },
            profiles: { 'tls-client': { ratePerSecond: 0.05, burst: 1 } },
          },
        },
      },
    });
    const grants = { profiles: ['tls-server', 'tls-client'], names: { dns: ['*.svc.internal'] } };
    for (const name of ['slow', 'fast', 'revoker', 'profiled']) tokens[name] = await t.client(name, grants);
  }, 120_000);
  afterAll(async () => t?.close());

  const issueAs = (client: string, profile = 'tls-server') => issue(t, tokens[client]!, { csr: csr(`${client}.svc.internal`), profile });
  const revokeAs = (client: string, serial: string) => call(`${t.url}/v1/certificates/${serial}/revoke`, { method: 'POST', token: tokens[client]!, json: { reason: 'superseded' } });

  it.each([
    { name: 'a default client: its burst, then 429', client: 'slow', profile: 'tls-server', statuses: [201, 201, 429, 429] },
    { name: 'a named client with a high rate is not limited', client: 'fast', profile: 'tls-server', statuses: [201, 201, 201, 201] },
  ])('$name', async ({ client, profile, statuses }) => {
    const got: number[] = [];
    for (const _ of statuses) got.push((await issueAs(client, profile)).status);
    expect(got).toEqual(statuses);
  });

  it('429 carries Retry-After and rate_limited, and costs no serial and no HSM call', async () => {
    const before = await t.counters();
    const a = await issueAs('slow');
    expect(a.status).toBe(429);
    expect(Number(a.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(Number(a.headers.get('retry-after'))).toBeLessThanOrEqual(20);
    expect(a.body.error).toEqual({ code: 'rate_limited', message: 'rate limit for client "slow" exceeded; try again later' });
    expect(await t.counters()).toEqual(before);
  });

  it('a bad token is 401, not 429: limits apply to authenticated clients', async () => {
    const a = await issue(t, 'not-a-token', { csr: csr('x.svc.internal'), profile: 'tls-server' });
    expect(a.status).toBe(401);
  });

  it('revocation spends from the same bucket as issuance', async () => {
    const first = await issueAs('revoker');
    expect(first.status).toBe(201);
    expect((await revokeAs('revoker', first.body.serial)).status).toBe(200);
    const limited = await revokeAs('revoker', first.body.serial);
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toMatch(/^\d+$/);
  });

  it('a profile bucket limits that profile only (the client bucket is checked first, before the body is read)', async () => {
    expect((await issueAs('profiled', 'tls-client')).status).toBe(201);
    const second = await issueAs('profiled', 'tls-client');
    expect(second.status).toBe(429);
    expect(second.body.error!.message).toMatch(/client "profiled" and this profile/);
    expect((await issueAs('profiled', 'tls-server')).status).toBe(201);
  });

  it('429s are counted by operation in /metrics', async () => {
    const text = (await call<Buffer>(`${t.url}/metrics`)).body.toString('utf8');
    expect(text).toMatch(/^strongroom_rate_limited_total\{operation="issue"\} [4-9]$/m);
    expect(text).toMatch(/^strongroom_rate_limited_total\{operation="revoke"\} 1$/m);
    expect(text).toMatch(/strongroom_issuance_requests_total\{profile="other",outcome="rate_limited"\} [1-9]/);
  });
});
