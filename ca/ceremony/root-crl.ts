/**
 * root-crl: the root's CRL — revoked intermediates with their dates and reasons — with a CRL number strictly
 * greater than the last one the transcript records for this issuer, and nextUpdate at most 12 months after
 * thisUpdate. The HSM key must be the issuer certificate's key.
 */
import type { z } from 'zod';
import { defaultAlgorithm } from '../../hsm/key-spec.ts';
import {
  assertNoLintErrors,
  buildTbsCrl,
  issueCrl,
  issuerName,
  lintCrl,
  serialFromBigint,
  SignatureCheckError,
  type RevokedEntry,
  type TbsCrlSpec,
} from '../x509/index.ts';
import { bytesEqual } from '../x509/der.ts';
import { ceremonyKey, tokenLines, writeAndRecord, type CeremonyEnv, type Prepared } from './ceremony.ts';
import { ceremonyOutputs, fromField, inputDetails, lintRefusal } from './certificate.ts';
import type { rootCrlConfig } from './config.ts';
import { refused } from './errors.ts';
import { readCertificateInput } from './inputs.ts';
import { confirmPlan, describeTbsCrl } from './plan.ts';
import { checkCrlDates, CRL_LINT_DAYS, isoSeconds } from './rules.ts';
import { lastCrlNumber, sha256Hex } from './transcript.ts';

/** RFC 5280 §5.2.3: a CRL number fits in 20 octets. */
const MAX_CRL_NUMBER = (1n << 159n) - 1n;

export async function prepareRootCrl(config: z.infer<typeof rootCrlConfig>, env: CeremonyEnv): Promise<Prepared> {
  const c = config.crl;
  checkCrlDates(c['this-update'], c['next-update']);
  if (c.number > MAX_CRL_NUMBER) throw refused('crl.number', 'a CRL number has at most 20 octets (RFC 5280 §5.2.3)');
  const issuer = readCertificateInput('inputs.issuer-certificate', config.inputs['issuer-certificate'], env.baseDir, { signsCrls: true });

  const last = lastCrlNumber(env.entries, issuer.spkiSha256);
  if (last !== undefined && c.number <= last) {
    throw refused('crl.number', `${c.number} is not greater than ${last}, the last CRL number the transcript records for this issuer (SPKI sha256 ${issuer.spkiSha256})`);
  }

  const seen = new Map<string, number>();
  const revoked: RevokedEntry[] = c.revoked.map((r, i) => {
    const field = `crl.revoked[${i}]`;
    const value = BigInt(`0x${r.serial}`);
    const serial = fromField(`${field}.serial`, () => serialFromBigint(value));
    const earlier = seen.get(serial.hex);
    if (earlier !== undefined) throw refused(`${field}.serial`, `serial ${serial.hex} is already listed as crl.revoked[${earlier}]`);
    seen.set(serial.hex, i);
    if (r['revocation-date'].getTime() > c['this-update'].getTime()) {
      throw refused(`${field}.revocation-date`, `${isoSeconds(r['revocation-date'])} is after crl.this-update (${isoSeconds(c['this-update'])})`);
    }
    return { serial, revocationDate: r['revocation-date'], reason: r.reason };
  });

  const algorithm = defaultAlgorithm(issuer.keyType);
  const spec: TbsCrlSpec = {
    issuer: issuerName(issuer.info),
    thisUpdate: c['this-update'],
    nextUpdate: c['next-update'],
    signatureAlgorithm: algorithm,
    crlNumber: c.number,
    authorityKeyId: issuer.info.keyIdentifier,
    revoked,
  };
  const lint = { issuerCertificate: issuer.der, maxValidityDays: CRL_LINT_DAYS, ...(last !== undefined ? { previousCrlNumber: last } : {}) };
  const { der: tbs } = fromField('crl', () => buildTbsCrl(spec));
  try {
    assertNoLintErrors(lintCrl(tbs, { ...lint, signer: { keyType: issuer.keyType, algorithm, spki: issuer.info.spki } }));
  } catch (e) {
    lintRefusal('crl', e);
  }
  const outputs = ceremonyOutputs(config.outputs, env.baseDir);
  const label = config['signing-key'].label;

  return {
    summary: `root-crl: CRL number ${c.number} with ${revoked.length} revoked certificate(s), signed by HSM key "${label}" (must match inputs.issuer-certificate)`,
    async execute(hsm, facts) {
      const key = ceremonyKey(hsm, label, 'signing-key.label', { spki: issuer.info.spki, field: 'inputs.issuer-certificate' });
      let warnings;
      try {
        warnings = assertNoLintErrors(lintCrl(tbs, { ...lint, signer: { keyType: key.keyType, algorithm, spki: key.spki } }));
      } catch (e) {
        lintRefusal('crl', e);
      }
      await confirmPlan(
        env.io.out,
        `PLAN — root-crl: CRL number ${c.number}`,
        [
          ...tokenLines(hsm, { label: key.label, keyType: key.keyType, spkiSha256: key.spkiSha256, algorithm }),
          `  last CRL number:     ${last ?? '(none recorded for this issuer)'}`,
          ...describeTbsCrl(tbs),
          ...warnings.map((w) => `  lint warning: ${w.code} (${w.message})`),
          `  output:              ${outputs.crl.path}`,
          `  transcript:          ${env.transcriptPath}`,
        ],
        { yes: env.yes, confirm: env.io.confirm, action: 'sign this CRL with the HSM key' },
      );
      const signer = await hsm.signer(key.label, key.keyType, key.spki, algorithm);
      const signed = await issueCrl(spec, signer, lint);
      if (!bytesEqual(signed.tbsDer, tbs)) throw new SignatureCheckError('tbs-mismatch', 'the signed TBS differs from the one shown in the plan; do not publish it');
      env.io.out(`signed: CRL number ${c.number}, signature verified under SPKI sha256 ${key.spkiSha256}`);
      await writeAndRecord(env, hsm, {
        type: 'root-crl',
        signer,
        keys: [key.record],
        outputs: [{ ...outputs.crl, data: signed.pem }],
        present: facts.present,
        details: {
          crlNumber: c.number.toString(),
          issuerSpkiSha256: issuer.spkiSha256,
          thisUpdate: isoSeconds(c['this-update']),
          nextUpdate: isoSeconds(c['next-update']),
          revoked: revoked.map((r) => ({ serial: (r.serial as { hex: string }).hex, revocationDate: isoSeconds(r.revocationDate), reason: r.reason ?? 'unspecified' })),
          signatureAlgorithm: algorithm,
          tbsSha256: sha256Hex(tbs),
          crlSha256: sha256Hex(signed.der),
          inputs: inputDetails([issuer]),
          lintWarnings: warnings.map((w) => w.code),
        },
      });
    },
  };
}
