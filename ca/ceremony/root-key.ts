/**
 * root-key: the root key pair is generated inside the HSM under a label that must not exist yet; its protective
 * attributes are read back (keygen refuses and destroys a key that is not CKA_LOCAL, always sensitive, never
 * extractable — or, for a backup-capable key, extractable only wrapped under a trusted key); the public key is
 * written as PEM; the transcript entry is signed by the new key itself and records the attributes as read back.
 */
import { defaultAlgorithm } from '../../hsm/key-spec.ts';
import { toPem } from '../x509/index.ts';
import { tokenLines, writeAndRecord, type CeremonyEnv, type Prepared } from './ceremony.ts';
import { ceremonyOutputs } from './certificate.ts';
import type { rootKeyConfig } from './config.ts';
import { CeremonyError } from './errors.ts';
import { confirmPlan } from './plan.ts';
import { keyRecordFrom } from './transcript-entry.ts';
import type { z } from 'zod';

export async function prepareRootKey(config: z.infer<typeof rootKeyConfig>, env: CeremonyEnv): Promise<Prepared> {
  const outputs = ceremonyOutputs(config.outputs, env.baseDir);
  const { label, type } = config.key;
  const backupCapable = config.key['backup-capable'];
  return {
    summary: `root-key: generate ${type.startsWith('ec') ? 'an' : 'a'} ${type} key labelled "${label}"${backupCapable ? ' (backup-capable)' : ''}`,
    async execute(hsm, facts) {
      const where = `token "${hsm.token.label}" (serial ${hsm.token.serial})`;
      if (hsm.store.list().some((k) => k.label === label)) {
        throw new CeremonyError('hsm-mismatch', 'key.label', `a key labelled "${label}" already exists on ${where}: a root key is generated once, under a new label`);
      }
      await confirmPlan(
        env.io.out,
        `PLAN — root-key: generate the root key pair inside the HSM`,
        [
          ...tokenLines(hsm),
          `  label:               ${label}`,
          `  type:                ${type}${type.startsWith('rsa-') ? ', public exponent 65537' : ''}`,
          `  private key:         CKA_TOKEN, CKA_PRIVATE, CKA_SENSITIVE, CKA_SIGN; no decrypt, unwrap or derive`,
          `  extractable:         ${backupCapable ? 'only wrapped under a trusted key (CKA_WRAP_WITH_TRUSTED), for M-of-N backups' : 'never (CKA_EXTRACTABLE false)'}`,
          `  public key output:   ${outputs['public-key'].path}`,
          `  transcript:          ${env.transcriptPath}`,
        ],
        { yes: env.yes, confirm: env.io.confirm, action: 'generate this key in the HSM' },
      );
      const key = hsm.store.generate({ type, label, backupCapable });
      const p = key.protection;
      env.io.out(`generated ${key.type} key "${key.label}" id ${key.id} inside ${where}`);
      env.io.out(`read back: CKA_LOCAL ${p.local}, CKA_ALWAYS_SENSITIVE ${p.alwaysSensitive}, CKA_NEVER_EXTRACTABLE ${p.neverExtractable}, CKA_SENSITIVE ${p.sensitive}, CKA_EXTRACTABLE ${p.extractable}`);
      env.io.out(`root public key SPKI sha256 (write it on paper): ${key.spkiSha256}`);
      const signer = await hsm.signer(key.label, key.type, key.spki, defaultAlgorithm(key.type));
      await writeAndRecord(env, hsm, {
        type: 'root-key',
        signer,
        keys: [keyRecordFrom(key)],
        outputs: [{ ...outputs['public-key'], data: toPem(key.spki, 'PUBLIC KEY') }],
        present: facts.present,
        details: { keyLabel: key.label, keyType: key.type, keyId: key.id, backupCapable, spkiSha256: key.spkiSha256, wrapWithTrusted: p.wrapWithTrusted },
      });
    },
  };
}
