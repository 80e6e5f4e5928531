/**
 * A TSA identity for tests: a key generated on the test token and a certificate for it from the `tsa` profile,
 * issued by the test chain's issuing CA (its key on the same token) — what service certificates will provide.
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AsnConvert } from '@peculiar/asn1-schema';
import { TimeStampResp } from '@peculiar/asn1-tsp';
import { loadProfiles, profileExtensions, profileSubject } from '../../ca/profiles/index.ts';
import { FAILURE_BITS } from '../../ca/tsa/tsa-failure.ts';
import { tsaIdentity, type TsaIdentity } from '../../ca/tsa/tsa-identity.ts';
import { authorityKeyIdentifier, buildName, issueCertificate, issuerInfo, issuerName, newSerial, subjectKeyIdentifier, toPem } from '../../ca/x509/index.ts';
import { Pkcs11KeyStore, PoolSigner, type KeyType, type SigningPool } from '../../hsm/index.ts';
import type { CaChain } from '../http/fixture.ts';

export interface TsaCredentials {
  label: string;
  keyType: KeyType;
  spki: Uint8Array;
  certificateDer: Uint8Array;
  /** tsa.pem: the TSA certificate alone. */
  certFile: string;
}

/** Generates the TSA key on the chain's token and issues its certificate (valid from a minute ago). */
export async function tsaCredentials(chain: CaChain, pool: SigningPool, opts: { label?: string; keyType?: KeyType; days?: number; notBefore?: Date } = {}): Promise<TsaCredentials> {
  const label = opts.label ?? 'tsa';
  const keyType = opts.keyType ?? 'ec-p256';
  const ks = Pkcs11KeyStore.open({ module: chain.token.module, token: { label: chain.token.label }, pin: chain.token.pin });
  const key = ks.generate({ type: keyType, label });
  const issuingSpki = ks.publicKey({ label: chain.issuingLabel }).spki;
  ks.close();
  const issuing = issuerInfo(chain.issuingDer);
  const issuingSigner = new PoolSigner(pool, { label: chain.issuingLabel }, 'ec-p256', issuingSpki);
  const profile = loadProfiles('profiles').get('tsa')!;
  const notBefore = opts.notBefore ?? new Date(Date.now() - 60_000);
  const cert = await issueCertificate(
    {
      serial: await newSerial((n) => randomBytes(n)),
      issuer: issuerName(issuing),
      subject: buildName(profileSubject(profile, undefined)),
      notBefore,
      notAfter: new Date(notBefore.getTime() + (opts.days ?? 365) * 86_400_000),
      spki: key.spki,
      signatureAlgorithm: issuingSigner.algorithm,
      extensions: [
        ...profileExtensions(profile, { keyType: keyType as Exclude<KeyType, 'ed25519'>, names: { dns: [], ip: [], uri: [], email: [] }, subjectEmpty: false }),
        subjectKeyIdentifier(key.spki),
        authorityKeyIdentifier(issuing.keyIdentifier),
      ],
    },
    issuingSigner,
    { ca: false, maxValidityDays: 825, issuerCertificate: chain.issuingDer },
  );
  const certFile = join(chain.dir, `${label}.pem`);
  writeFileSync(certFile, toPem(cert.der, 'CERTIFICATE'));
  return { label, keyType, spki: key.spki, certificateDer: cert.der, certFile };
}

export function identityOf(pool: SigningPool, c: TsaCredentials, chain: CaChain): TsaIdentity {
  return tsaIdentity(new PoolSigner(pool, { label: c.label }, c.keyType, c.spki), c.certificateDer, [chain.issuingDer, chain.rootDer]);
}

/** The failInfo bits of a TimeStampResp by RFC 3161 name (asn1-tsp's own names are off by one bit in 2.6). */
export function failInfoNames(responseDer: Uint8Array): string[] {
  const resp = AsnConvert.parse(responseDer, TimeStampResp);
  if (!resp.status.failInfo) return [];
  const bits = new Uint8Array(resp.status.failInfo.value);
  return Object.entries(FAILURE_BITS)
    .filter(([, bit]) => (bits[bit >> 3] ?? 0) & (0x80 >> (bit & 7)))
    .map(([name]) => name);
}

export function statusOf(responseDer: Uint8Array): number {
  return AsnConvert.parse(responseDer, TimeStampResp).status.status;
}
