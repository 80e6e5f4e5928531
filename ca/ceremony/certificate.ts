/**
 * The certificate-signing path shared by root-cert, intermediate-cert and cross-cert.
 *
 * Before the HSM: the TBS is built with a placeholder serial and the key the config expects, and linted, so a
 * certificate the lint would refuse is refused before any custodian is asked for a share. With the HSM: the key
 * is checked against the expected one, the serial is drawn from the HSM's C_GenerateRandom, the TBS is built and
 * linted again, shown to the operators, and — on confirmation — signed exactly once through the Signer
 * (issueCertificate: build → lint → sign → verify), and the signed TBS must equal the one shown byte for byte.
 */
import { randomBytes } from 'node:crypto';
import { algorithmFits, defaultAlgorithm, type SignatureAlgorithm } from '../../hsm/key-spec.ts';
import {
  assertNoLintErrors,
  buildName,
  buildTbsCertificate,
  issueCertificate,
  lintCertificate,
  LintError,
  newSerial,
  SignatureCheckError,
  X509Error,
  type CertificateLintContext,
  type Serial,
  type TbsCertificateSpec,
} from '../x509/index.ts';
import type { Name } from '@peculiar/asn1-x509';
import { bytesEqual } from '../x509/der.ts';
import { ceremonyKey, tokenLines, writeAndRecord, type CeremonyEnv, type OutputFile, type Prepared } from './ceremony.ts';
import { refused } from './errors.ts';
import type { CeremonyKeyType, InputFile } from './inputs.ts';
import { checkOutputs, OutputExistsError } from './outputs.ts';
import { confirmPlan, describeTbsCertificate } from './plan.ts';
import { sha256Hex } from './transcript-entry.ts';

export interface CertificatePlan {
  type: 'root-cert' | 'intermediate-cert' | 'cross-cert';
  title: string;
  signingLabel: string;
  /** The public key the HSM key must have, and the config field that names it. */
  expected: { spki: Uint8Array; field: string };
  keyType: CeremonyKeyType;
  algorithm: SignatureAlgorithm;
  spec(serial: Serial): TbsCertificateSpec;
  lint: Omit<CertificateLintContext, 'signer'>;
  output: OutputFile;
  inputs: InputFile[];
  details: Record<string, unknown>;
}

/** The signature algorithm the config asks for (or the key's default), refused if the key cannot make it. */
export function algorithmFor(keyType: CeremonyKeyType, given: SignatureAlgorithm | undefined, field: string): SignatureAlgorithm {
  const alg = given ?? defaultAlgorithm(keyType);
  if (!algorithmFits(keyType, alg)) throw refused(field, `${alg} cannot be made by the signing key, a ${keyType} key`);
  return alg;
}

export function subjectName(subject: Record<string, string | undefined>, field: string): Name {
  try {
    const fields = Object.fromEntries(Object.entries(subject).filter(([, v]) => v !== undefined)) as Record<string, string>;
    return buildName(fields, { requireNonEmpty: true });
  } catch (e) {
    throw refused(field, (e as Error).message);
  }
}

/** Runs a builder and attributes its X509Error to a config field. */
export function fromField<T>(field: string, build: () => T): T {
  try {
    return build();
  } catch (e) {
    if (e instanceof X509Error) throw refused(field, e.message);
    throw e;
  }
}

/** checkOutputs for one ceremony: an existing output (or missing folder) is refused before the HSM is opened. */
export function ceremonyOutputs<K extends string>(outputs: Record<K, string>, baseDir: string): Record<K, OutputFile> {
  let resolved: Record<string, string>;
  try {
    resolved = checkOutputs(outputs, baseDir);
  } catch (e) {
    if (e instanceof OutputExistsError) {
      const [field, ...rest] = e.message.split(': ');
      throw refused(field!, rest.join(': '));
    }
    throw e;
  }
  return Object.fromEntries(Object.entries(outputs).map(([k, given]) => [k, { field: `outputs.${k}`, given, path: resolved[k]! }])) as Record<K, OutputFile>;
}

export function lintRefusal(what: string, e: unknown): never {
  if (e instanceof LintError) {
    const errors = e.findings.filter((f) => f.severity === 'error');
    throw refused(what, `the lint refuses the to-be-signed ${what === 'crl' ? 'CRL' : 'certificate'}: ${errors.map((f) => `${f.code} (${f.message})`).join('; ')}`);
  }
  throw e;
}

export function inputDetails(inputs: InputFile[]): Record<string, { path: string; sha256: string }> {
  return Object.fromEntries(inputs.map((i) => [i.field, { path: i.given, sha256: i.sha256 }]));
}

export async function prepareCertificate(plan: CertificatePlan, env: CeremonyEnv): Promise<Prepared> {
  // The pre-lint: a placeholder serial (Node's CSPRNG; the real one comes from the HSM) and the expected key.
  const placeholder = await newSerial((n) => randomBytes(n));
  const der = fromField('certificate', () => buildTbsCertificate(plan.spec(placeholder)).der);
  try {
    assertNoLintErrors(lintCertificate(der, { ...plan.lint, signer: { keyType: plan.keyType, algorithm: plan.algorithm, spki: plan.expected.spki } }));
  } catch (e) {
    lintRefusal('certificate', e);
  }
  return {
    summary: `${plan.type}: ${plan.title}, signed by HSM key "${plan.signingLabel}" (must match ${plan.expected.field}, SPKI sha256 ${sha256Hex(plan.expected.spki)})`,
    async execute(hsm, facts) {
      const key = ceremonyKey(hsm, plan.signingLabel, 'signing-key.label', plan.expected);
      const serial = await newSerial((n) => hsm.store.random(n));
      const spec = plan.spec(serial);
      const { der: tbs } = buildTbsCertificate(spec);
      let warnings;
      try {
        warnings = assertNoLintErrors(lintCertificate(tbs, { ...plan.lint, signer: { keyType: key.keyType, algorithm: plan.algorithm, spki: key.spki } }));
      } catch (e) {
        lintRefusal('certificate', e);
      }
      await confirmPlan(
        env.io.out,
        `PLAN — ${plan.type}: ${plan.title}`,
        [
          ...tokenLines(hsm, { label: key.label, keyType: key.keyType, spkiSha256: key.spkiSha256, algorithm: plan.algorithm }),
          `  serial source:       the HSM's C_GenerateRandom (${serial.bytes.length} octets)`,
          ...describeTbsCertificate(tbs),
          ...warnings.map((w) => `  lint warning: ${w.code} (${w.message})`),
          `  output:              ${plan.output.path}`,
          `  transcript:          ${env.transcriptPath}`,
        ],
        { yes: env.yes, confirm: env.io.confirm, action: 'sign this certificate with the HSM key' },
      );
      const signer = await hsm.signer(key.label, key.keyType, key.spki, plan.algorithm);
      const signed = await issueCertificate(spec, signer, plan.lint);
      // issueCertificate checks its own TBS; this checks it is the very TBS the operators approved.
      if (!bytesEqual(signed.tbsDer, tbs)) throw new SignatureCheckError('tbs-mismatch', 'the signed TBS differs from the one shown in the plan; do not publish it');
      env.io.out(`signed: certificate serial ${serial.hex}, signature verified under SPKI sha256 ${key.spkiSha256}`);
      await writeAndRecord(env, hsm, {
        type: plan.type,
        signer,
        keys: [key.record],
        outputs: [{ ...plan.output, data: signed.pem }],
        present: facts.present,
        details: {
          ...plan.details,
          serial: serial.hex,
          signatureAlgorithm: plan.algorithm,
          tbsSha256: sha256Hex(tbs),
          certificateSha256: sha256Hex(signed.der),
          inputs: inputDetails(plan.inputs),
          lintWarnings: warnings.map((w) => w.code),
        },
      });
    },
  };
}
