/**
 * Handoff from the offline root to the online CA: register an issuing-CA certificate (and its chain) produced by a
 * ceremony, after checking that it is a CA certificate, that the chain signs it up to a self-signed root, and that
 * the online HSM holds the matching private key. Nothing is stored unless every check passes.
 */
import { createHash } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import { KeyUsageFlags, Name } from '@peculiar/asn1-x509';
import { fromPem, issuerInfo, nameToString, toPem, verifyCertificate, type IssuerInfo } from '../x509/index.ts';
import type { AuthorityRow, AuthorityStore } from '../db/authority-store.ts';

const KEY_CERT_SIGN = KeyUsageFlags.keyCertSign;

export class ImportError extends Error {
  override readonly name = 'ImportError';
}

export interface ImportRequest {
  name: string;
  certificatePem: string;
  /** Issuer certificates above this CA, nearest first, ending with the self-signed root. */
  chainPem: string[];
  keyUri: string;
  activate: boolean;
}

export interface ImportDeps {
  store: AuthorityStore;
  /** DER SPKI of the private key the online HSM holds at that URI (throws if there is none). */
  publicKeyOf(keyUri: string): Promise<Uint8Array>;
  now(): Date;
}

function sha256(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

function splitPem(text: string): string[] {
  return text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
}

export function parseChainPem(text: string): string[] {
  const blocks = splitPem(text);
  if (blocks.length === 0) throw new ImportError('the chain holds no certificate');
  return blocks;
}

function subjectOf(info: IssuerInfo): string {
  return nameToString(AsnConvert.parse(info.subjectDer, Name));
}

function issuerDer(info: IssuerInfo): Uint8Array {
  return new Uint8Array(AsnConvert.serialize(info.certificate.tbsCertificate.issuer));
}

export async function importAuthority(req: ImportRequest, deps: ImportDeps): Promise<AuthorityRow> {
  const certDer = fromPem(req.certificatePem, 'CERTIFICATE');
  const cert = issuerInfo(certDer);
  if (!cert.ca) throw new ImportError('the certificate is not a CA certificate (basicConstraints CA:TRUE is missing)');
  if (cert.keyUsage !== undefined && (cert.keyUsage & KEY_CERT_SIGN) === 0) throw new ImportError('the certificate may not sign certificates (keyUsage lacks keyCertSign)');
  const now = deps.now();
  if (cert.notAfter <= now) throw new ImportError(`the certificate expired on ${cert.notAfter.toISOString()}`);
  if (cert.notBefore > now) throw new ImportError(`the certificate is not valid before ${cert.notBefore.toISOString()}`);

  // Each certificate must be signed by the next; the last by itself.
  const chain = req.chainPem.map((pem) => fromPem(pem, 'CERTIFICATE'));
  if (chain.length === 0) throw new ImportError('give the chain up to the root (--chain)');
  const all = [certDer, ...chain];
  for (let i = 0; i < all.length; i++) {
    const child = issuerInfo(all[i]!);
    const parentDer = all[i + 1] ?? all[i]!;
    const parent = issuerInfo(parentDer);
    if (!bytesEqual(issuerDer(child), parent.subjectDer)) {
      throw new ImportError(i + 1 < all.length ? `chain certificate ${i + 1} is not the issuer of the one before it` : 'the chain does not end with a self-signed root');
    }
    try {
      verifyCertificate(all[i]!, { issuerSpki: parent.spki });
    } catch {
      throw new ImportError(i === 0 ? 'the certificate is not signed by the first chain certificate' : `chain certificate ${i} is not signed by its issuer`);
    }
  }

  let hsmSpki: Uint8Array;
  try {
    hsmSpki = await deps.publicKeyOf(req.keyUri);
  } catch (e) {
    throw new ImportError(`the online HSM has no usable key at ${req.keyUri}: ${(e as Error).message}`);
  }
  if (!bytesEqual(hsmSpki, cert.spki)) throw new ImportError(`the key at ${req.keyUri} is not the certificate's key (public keys differ)`);

  if (await deps.store.byName(req.name)) throw new ImportError(`an issuer named "${req.name}" exists already`);
  return deps.store.insert(
    {
      name: req.name,
      subjectDn: subjectOf(cert),
      certificateDer: certDer,
      chainPem: chain.map((d) => toPem(d, 'CERTIFICATE')).join(''),
      spkiSha256: sha256(cert.spki),
      keyUri: req.keyUri,
      notBefore: cert.notBefore,
      notAfter: cert.notAfter,
    },
    req.activate,
  );
}
