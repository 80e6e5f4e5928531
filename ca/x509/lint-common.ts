/**
 * What the certificate and CRL linters share: collecting findings, and checking that the algorithm written into
 * the TBS is the one the issuer's key will sign with and can sign with.
 */
import type { AlgorithmIdentifier } from '@peculiar/asn1-x509';
import type { Signer } from '../../hsm/index.ts';
// key-spec.ts directly: a pure module, where the hsm/ barrel would load pkcs11js and prom-client with it.
import { algorithmFits } from '../../hsm/key-spec.ts';
import { findSignatureAlgorithm } from './algorithms.ts';
import { children, readTlv } from './der.ts';
import { oidString } from './oid.ts';
import type { Finding, Severity } from './errors.ts';
import { spkiInfo } from './public-key.ts';

/** The parts of a Signer a lint needs: which key will sign, and with what. */
export type LintSigner = Pick<Signer, 'keyType' | 'algorithm' | 'spki'>;

export class Findings<Code extends string> {
  readonly list: Finding<Code>[] = [];
  add(code: Code, message: string, severity: Severity = 'error'): void {
    this.list.push({ code, severity, message });
  }
}

export type AlgorithmProblem = 'signature-algorithm-unsupported' | 'signature-algorithm-mismatch' | 'signature-algorithm-key-mismatch';

/** `ai` as the schema's object or as its DER (the certificate lint reads raw bytes). */
export function checkSignatureAlgorithm(ai: AlgorithmIdentifier | Uint8Array, signer: LintSigner): { code: AlgorithmProblem; message: string }[] {
  const alg = findSignatureAlgorithm(ai);
  if (!alg) return [{ code: 'signature-algorithm-unsupported', message: `${algorithmOid(ai)} (with these parameters) is not one of our signature algorithms` }];
  const out: { code: AlgorithmProblem; message: string }[] = [];
  if (alg !== signer.algorithm) out.push({ code: 'signature-algorithm-mismatch', message: `the TBS names ${alg} but the issuer key signs ${signer.algorithm}` });
  let actual: string | undefined;
  try {
    actual = spkiInfo(signer.spki).keyType;
  } catch {
    actual = undefined;
  }
  // The key type is taken from the signer's public key, not only from its label: a Signer describing its key
  // wrongly must not get a TBS that names an algorithm its real key cannot make.
  if (actual !== signer.keyType || !algorithmFits(signer.keyType, alg)) {
    out.push({ code: 'signature-algorithm-key-mismatch', message: `${alg} cannot be made by the issuer key (${actual ?? 'unrecognised'} public key, signer says ${signer.keyType})` });
  }
  return out;
}

function algorithmOid(ai: AlgorithmIdentifier | Uint8Array): string {
  if (!(ai instanceof Uint8Array)) return ai.algorithm;
  try {
    return oidString(children(readTlv(ai))[0]!.content);
  } catch {
    return 'an unreadable AlgorithmIdentifier';
  }
}
