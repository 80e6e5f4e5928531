/**
 * The online CA's configuration, validated strictly: an unknown or misspelled key is an error naming its path,
 * never silently ignored. Every field has a default except the HSM token; the PIN is never part of the config,
 * only where to read it (hsm.pin: { file } | { env } | { prompt }).
 *
 *   {
 *     "dataDir": "var",                          // the embedded database lives in <dataDir>/pgdata
 *     "databaseUrl": "postgres://…",             // optional; else the embedded database
 *     "profilesDir": "profiles",
 *     "publicUrl": "http://127.0.0.1:8080",      // base of the CRL, caIssuers and OCSP URLs put in certificates
 *     "migrate": true,                           // apply pending migrations at start
 *     "http": { "host": "127.0.0.1", "port": 8080, "headersTimeoutMs": 10000, "requestTimeoutMs": 30000,
 *               "keepAliveTimeoutMs": 5000, "maxInFlight": 256, "deadlineMs": 20000 },
 *     "https": { "host": "127.0.0.1", "port": 8443, "names": ["ca.strongroom.internal", "127.0.0.1"],
 *                "clientAuth": "none" | "optional" | "require", "apiOverHttp": false },   // optional; off by default
 *     "hsm": { "module": "/usr/lib/softhsm/libsofthsm2.so", "token": { "label": "strongroom" },
 *              "pin": { "env": "STRONGROOM_HSM_PIN" }, "dr": { … }, "pool": { "workers": 2, … } },
 *     "crl": { "validitySeconds": 604800, "debounceMs": 1000, "checkIntervalMs": 60000, "retryMs": 5000,
 *              "maxAgeSeconds": 300 },
 *     "serviceCertificates": { "keyType": "ec-p256", "renewAtFraction": 0.6667, "checkIntervalMs": 3600000,
 *                              "startupWaitMs": 5000, "validityDays": { "ocsp": 30, "tsa": 365, "https": 30 } },
 *                                                // the CA's own OCSP/TSA/HTTPS certificates; validity defaults
 *                                                // to the profile's (ocsp-signer, tsa, tls-server)
 *     "ocsp": { "validitySeconds": 345600, "refreshFraction": 0.5, "maxAgeSeconds": 3600, … },  // ocsp/ocsp-config.ts
 *     "clock": { "check": "database", "toleranceMs": 5000, "intervalMs": 10000 },  // or timedatectl, none: no CRL or
 *                                                // OCSP answer is signed while it fails (ca/server/clock-gated-pool.ts)
 *     "tsa": { "enabled": false, "policies": ["2.25.…"], "accuracyMs": 1000, "clock": { "check": "database" }, … },  // ca/tsa/tsa-config.ts
 *     "issuerReloadMs": 30000,                   // picks up `strongroom ca import/activate/retire` from other processes
 *     "limits": { "perClient": { "default": { "ratePerSecond": 5, "burst": 20 }, "clients": { … }, "profiles": { … } } },
 *                                                // 429 + Retry-After past a client's token bucket; off unless given (ca/limits/limits-config.ts)
 *     "metrics": { "refreshIntervalMs": 60000 },  // expiry, audit-head and restore-drill gauges re-read from the database
 *     "log": { "level": "info" }
 *   }
 */
import { z } from 'zod';
import { hsmConfigSchema } from '../../hsm/hsm-config.ts';
import { ocspConfigSchema } from '../../ocsp/ocsp-config.ts';
import { KEY_TYPES } from '../profiles/profile.ts';
import { clockSchema } from '../clock/clock-config.ts';
import { tsaConfigSchema } from '../tsa/tsa-config.ts';
import { limitsConfigSchema } from '../limits/limits-config.ts';

const DAY = 86_400;

export const caServerConfigSchema = z.strictObject({
  dataDir: z.string().min(1).default('var'),
  databaseUrl: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'a postgres:// or postgresql:// URL')
    .optional(),
  profilesDir: z.string().min(1).default('profiles'),
  publicUrl: z
    .url({ protocol: /^https?$/, error: 'an http:// or https:// URL' })
    .refine((u) => !/[?#]/.test(u), 'no query or fragment')
    .default('http://127.0.0.1:8080'),
  migrate: z.boolean().default(true),
  // Files published for an offline authority (the root's CRL from the root-crl ceremony, its certificate), by the
  // path the issuing CA's certificate names: { "/crl/root.crl": "/etc/strongroom/root-1.crl", "/ca/root.crt": … }.
  published: z
    .record(z.string().regex(/^\/(crl\/[A-Za-z0-9._-]+\.crl|ca\/[A-Za-z0-9._-]+\.crt)$/, 'a path /crl/NAME.crl or /ca/NAME.crt'), z.string().min(1))
    .default({}),
  http: z
    .strictObject({
      host: z.string().min(1).default('127.0.0.1'),
      port: z.number().int().min(0).max(65_535).default(8080),
      headersTimeoutMs: z.number().int().min(100).max(120_000).default(10_000),
      requestTimeoutMs: z.number().int().min(100).max(600_000).default(30_000),
      keepAliveTimeoutMs: z.number().int().min(100).max(600_000).default(5000),
      maxInFlight: z.number().int().min(1).max(100_000).default(256),
      /**
       * Every /v1 request (issue, view, revoke) is answered within this (503 + Retry-After past it), whatever it waits
       * for; issuance not at the HSM by then reserves no serial or has its reservation closed as failed, unsigned.
       */
      deadlineMs: z.number().int().min(100).max(600_000).default(20_000),
    })
    .prefault({}),
  // The enrollment API over HTTPS, off unless given; the plain-HTTP listener then keeps OCSP, CRLs and CA
  // certificates (and the API only with apiOverHttp). clientAuth: bound client certificates authenticate like tokens.
  https: z
    .strictObject({
      host: z.string().min(1).default('127.0.0.1'),
      port: z.number().int().min(0).max(65_535).default(8443),
      names: z.array(z.string().min(1).max(253)).min(1).max(100),
      clientAuth: z.enum(['none', 'optional', 'require']).default('none'),
      /** Path of OpenSSL's PKCS#11 engine (libp11); default: where Debian installs it. */
      engine: z.string().min(1).optional(),
      apiOverHttp: z.boolean().default(false),
    })
    .optional(),
  hsm: hsmConfigSchema,
  crl: z
    .strictObject({
      validitySeconds: z.number().int().min(3600).max(366 * DAY).default(7 * DAY),
      debounceMs: z.number().int().min(0).max(60_000).default(1000),
      checkIntervalMs: z.number().int().min(100).max(DAY * 1000).default(60_000),
      retryMs: z.number().int().min(100).max(3_600_000).default(5000),
      maxAgeSeconds: z.number().int().min(0).max(DAY).default(300),
      /**
       * Publishes delta CRLs (RFC 5280 §5.2.4) with this nextUpdate − thisUpdate, at /crl/delta/CA.crl, named by
       * each complete CRL's freshestCRL. Off unless set.
       */
      deltaValiditySeconds: z.number().int().min(300).max(31 * DAY).optional(),
    })
    .refine((c) => c.deltaValiditySeconds === undefined || c.deltaValiditySeconds < c.validitySeconds, {
      message: 'deltaValiditySeconds must be shorter than validitySeconds: a delta is the fresher list',
      path: ['deltaValiditySeconds'],
    })
    .prefault({}),
  serviceCertificates: z
    .strictObject({
      keyType: z.enum(KEY_TYPES).default('ec-p256'),
      renewAtFraction: z.number().gt(0).lt(1).default(2 / 3),
      checkIntervalMs: z.number().int().min(100).max(DAY * 1000).default(3_600_000),
      // listen() waits this long for the OCSP certificates, then lets them finish in the background.
      startupWaitMs: z.number().int().min(0).max(600_000).default(5000),
      validityDays: z
        .strictObject({
          ocsp: z.number().int().min(1).max(825).optional(),
          tsa: z.number().int().min(1).max(825).optional(),
          https: z.number().int().min(1).max(825).optional(),
        })
        .prefault({}),
    })
    .prefault({}),
  ocsp: ocspConfigSchema,
  // Is the clock right? Checked before anything that carries the time is signed (CRLs, OCSP answers): while the check
  // fails they are not signed. Tolerance is looser than the TSA's: a few seconds of thisUpdate skew harm no client.
  clock: clockSchema.default({ check: 'database', toleranceMs: 5000, intervalMs: 10_000 }),
  tsa: tsaConfigSchema,
  issuerReloadMs: z.number().int().min(100).max(3_600_000).default(30_000),
  limits: limitsConfigSchema,
  metrics: z.strictObject({ refreshIntervalMs: z.number().int().min(100).max(3_600_000).default(60_000) }).prefault({}),
  log: z.strictObject({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info') }).prefault({}),
});

export type CaServerConfig = z.output<typeof caServerConfigSchema>;
export type CaServerConfigInput = z.input<typeof caServerConfigSchema>;

export function parseCaServerConfig(input: unknown): CaServerConfig {
  return caServerConfigSchema.parse(input);
}

/** Where certificates point relying parties: CRL distribution point, AIA caIssuers and OCSP, under publicUrl. */
export function publicUrls(base: string) {
  const root = base.replace(/\/+$/, '');
  return {
    crl: (caName: string) => `${root}/crl/${encodeURIComponent(caName)}.crl`,
    deltaCrl: (caName: string) => `${root}/crl/delta/${encodeURIComponent(caName)}.crl`,
    caIssuers: (caName: string) => `${root}/ca/${encodeURIComponent(caName)}.crt`,
    ocsp: () => `${root}/ocsp`,
  };
}
