/**
 * key-backup and key-restore: a backup-capable key (CKA_EXTRACTABLE only under a trusted key) wrapped under a
 * key-encryption key split M-of-N among the KEK's custodians, and restored into another token (the DR HSM), proven
 * by a sign/verify round trip with the restored key. The wrapping and unwrapping happen inside the tokens
 * (hsm/key-backup.ts, hsm/key-backup-restore.ts): plaintext key material never leaves a token, and the KEK exists
 * in this process only between the HSM's C_GenerateRandom (or the custodians' shares) and the token call.
 *
 * key-backup, in order: the token PIN's custodians unlock the token (one login); the key is checked
 * (backup-capable, a ceremony key type); the KEK is drawn from the HSM's random generator; the plan is confirmed;
 * the KEK is split among the KEK's custodians (and the split checked); the token is closed, because hsm/'s backup
 * logs in as the security officer (to create the trusted wrapping key) and then as the user; the wrapped key and the
 * public key are written; each KEK custodian gets their share (on the terminal, or — rehearsals only — a file); the
 * transcript entry is signed by the backed-up key.
 *
 * key-restore: the KEK's custodians give M shares (before the HSM is opened), the DR token's PIN custodians unlock
 * it, the label must be free, the plan is confirmed, the key is unwrapped, its public key object created and the
 * pair proven by a signature in the token, then once more by a signature through the normal signing path
 * (PoolSigner) verified in Node; the proof is written and the transcript entry is signed by the restored key.
 */
import { createPublicKey, randomBytes, verify as nodeVerify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { z } from 'zod';
import { backupKey, restoreKey, type KeyBackup } from '../../hsm/index.ts';
import { defaultAlgorithm } from '../../hsm/key-spec.ts';
import { toPem } from '../x509/index.ts';
import { bytesEqual } from '../x509/der.ts';
import { canonicalJson } from '../encoding/canonical-json.ts';
import { tokenLines, writeAndRecord, type CeremonyEnv, type Prepared } from './ceremony.ts';
import { ceremonyOutputs, inputDetails } from './certificate.ts';
import type { keyBackupConfig, keyRestoreConfig } from './config.ts';
import { unlockKek } from './context.ts';
import { combineShares, parseShare, splitSecret } from './custody.ts';
import { CeremonyError, refused } from './errors.ts';
import { isCeremonyKeyType, readPublicKeyInput, type InputFile } from './inputs.ts';
import { confirmPlan } from './plan.ts';
import { checkShareDir, showSharesOnTerminal, terminalAvailable, writeShareFiles } from './share-display.ts';
import { keyRecordFrom, sha256Hex } from './transcript-entry.ts';

export const WRAPPED_KEY_FORMAT = 'strongroom-wrapped-key/v1';
export const KEK_SHARE_SUFFIX = '.kek.share';

const b64 = z.string().regex(/^[A-Za-z0-9+/]+={0,2}$/, 'base64');
const hex64 = z.string().regex(/^[0-9a-f]{64}$/);

/** The wrapped-key file: everything a restore needs except the KEK. */
export const wrappedKeyFile = z.strictObject({
  format: z.literal(WRAPPED_KEY_FORMAT),
  mechanism: z.literal('aes-key-wrap-pad'),
  keyType: z.enum(['ec-p256', 'ec-p384', 'rsa-2048', 'rsa-3072', 'rsa-4096']),
  label: z.string().min(1),
  id: z.string().regex(/^([0-9a-f]{2})+$/),
  spki: b64,
  spkiSha256: hex64,
  wrapped: b64,
  kek: z.strictObject({ splitId: z.string().regex(/^[0-9a-f]{16}$/), threshold: z.number().int().min(2), custodians: z.array(z.string().min(1)).min(2) }),
  token: z.strictObject({ label: z.string(), serial: z.string(), manufacturer: z.string(), model: z.string() }),
  time: z.string(),
});
export type WrappedKeyFile = z.infer<typeof wrappedKeyFile>;

const shareLabel = (label: string) => `${label.replace(/[^A-Za-z0-9._-]/g, '-')}-kek`.slice(-64);

export async function prepareKeyBackup(config: z.infer<typeof keyBackupConfig>, env: CeremonyEnv): Promise<Prepared> {
  const outputs = ceremonyOutputs(config.outputs, env.baseDir);
  const kekCustody = config['kek-custody'];
  const label = config.key.label;
  const shareDir = env.extras.kekShareDir !== undefined ? resolve(env.extras.kekShareDir) : undefined;
  if (shareDir !== undefined) checkShareDir(shareDir, kekCustody.custodians, KEK_SHARE_SUFFIX, 'kek-custody');
  else if (!env.extras.showShares && !terminalAvailable()) {
    throw refused('kek-custody', 'each KEK custodian is shown their share on the terminal, and there is none (rehearsals and tests: --kek-share-dir DIR)');
  }
  if (!env.extras.soPin) throw refused('hsm.token', "a backup needs the token's security officer PIN (--so-pin-source)");
  // Asked now, before any custodian is: a missing SO PIN stops the ceremony early.
  const soPin = await env.extras.soPin();

  return {
    summary: `key-backup: wrap key "${label}" under a new KEK split ${kekCustody.threshold}-of-${kekCustody.custodians.length} among ${kekCustody.custodians.join(', ')}`,
    async execute(hsm, facts) {
      const where = `token "${hsm.token.label}" (serial ${hsm.token.serial})`;
      const listed = hsm.store.list().filter((k) => k.label === label);
      if (listed.length !== 1) throw new CeremonyError('hsm-mismatch', 'key.label', listed.length ? `${listed.length} keys are labelled "${label}" on ${where}` : `no key labelled "${label}" on ${where}`);
      const info = listed[0]!;
      if (!isCeremonyKeyType(info.type) || !info.spki || !info.spkiSha256) throw new CeremonyError('hsm-mismatch', 'key.label', `"${label}" is a ${info.type} key: only RSA and ECDSA ceremony keys are backed up`);
      if (!info.protection.extractable || !info.protection.wrapWithTrusted) {
        throw new CeremonyError('hsm-mismatch', 'key.label', `"${label}" on ${where} is not backup-capable (CKA_EXTRACTABLE ${info.protection.extractable}, CKA_WRAP_WITH_TRUSTED ${info.protection.wrapWithTrusted}): it was generated never to leave its token`);
      }
      const keyType = info.type;
      const spki = Uint8Array.from(info.spki);
      const record = keyRecordFrom({ ...info, type: keyType, spkiSha256: info.spkiSha256 });

      await confirmPlan(
        env.io.out,
        `PLAN — key-backup: wrap "${label}" for the DR HSM`,
        [
          ...tokenLines(hsm, { label, keyType, spkiSha256: info.spkiSha256 }),
          `  attributes:          CKA_EXTRACTABLE only under a trusted key (CKA_WRAP_WITH_TRUSTED), CKA_SENSITIVE ${info.protection.sensitive}`,
          `  KEK:                 32 bytes from the HSM's C_GenerateRandom, AES key wrap with padding (CKM_AES_KEY_WRAP_PAD) inside the token`,
          `  KEK custody:         ${kekCustody.threshold} of ${kekCustody.custodians.join(', ')} ${shareDir ? `(share files in ${shareDir}: rehearsal only)` : '(each shown their share on this terminal)'}`,
          `  security officer:    logs in to create the trusted wrapping key (a session object, destroyed after the wrap)`,
          `  outputs:             ${outputs['wrapped-key'].path}, ${outputs['public-key'].path}`,
          `  transcript:          ${env.transcriptPath}`,
        ],
        { yes: env.yes, confirm: env.io.confirm, action: 'back up this key' },
      );

      const kek = new Uint8Array(hsm.store.random(32));
      // hsm/'s backup logs in as the SO, then as the user: nobody of this process may be logged in meanwhile.
      await hsm.close();
      let shares: string[];
      let backup: KeyBackup;
      try {
        shares = await splitSecret(kek, kekCustody.threshold, kekCustody.custodians.length, kekCustody.custodians, { label: shareLabel(label) });
        const check = await combineShares(shares.slice(0, kekCustody.threshold), kekCustody.threshold);
        const same = bytesEqual(check, kek);
        check.fill(0);
        if (!same) throw new CeremonyError('refused', 'kek-custody', 'the KEK split does not restore the KEK; nothing was wrapped');
        backup = backupKey({ module: hsm.target.module, token: hsm.target.token, userPin: facts.pin, soPin, key: { label }, kek });
      } finally {
        kek.fill(0);
      }
      if (backup.spkiSha256 !== info.spkiSha256) throw new CeremonyError('hsm-mismatch', 'key.label', 'the wrapped key is not the key listed under this label; nothing written');
      env.io.out(`wrapped "${label}" inside ${where}: ${backup.wrapped.length} bytes; before wrapping, the key proved itself by signing a challenge (${backup.proof.algorithm})`);

      const splitId = parseShare(shares[0]!, 'share').splitId;
      const file: WrappedKeyFile = {
        format: WRAPPED_KEY_FORMAT,
        mechanism: backup.mechanism,
        keyType,
        label: backup.label,
        id: backup.id,
        spki: Buffer.from(backup.spki).toString('base64'),
        spkiSha256: backup.spkiSha256,
        wrapped: backup.wrapped.toString('base64'),
        kek: { splitId, threshold: kekCustody.threshold, custodians: kekCustody.custodians },
        token: backup.token,
        time: new Date().toISOString(),
      };

      // The shares first: a wrapped key nobody can unwrap is worthless, shares without it are harmless.
      if (shareDir !== undefined) {
        for (const [i, path] of writeShareFiles(shareDir, kekCustody.custodians, shares, KEK_SHARE_SUFFIX).entries()) {
          env.io.out(`KEK custodian ${kekCustody.custodians[i]!}: share written to ${path} (mode 0600; rehearsal only)`);
        }
      } else {
        await (env.extras.showShares ?? showSharesOnTerminal)(kekCustody.custodians, shares, `KEK of the backup of "${label}", ${kekCustody.threshold} of ${kekCustody.custodians.length} needed`);
        env.io.out(`KEK shares handed to ${kekCustody.custodians.join(', ')}; none stored`);
      }
      shares.fill('');

      const again = facts.reopen();
      try {
        const signer = await again.signer(label, keyType, spki, defaultAlgorithm(keyType));
        await writeAndRecord(env, again, {
          type: 'key-backup',
          signer,
          keys: [record],
          outputs: [
            { ...outputs['wrapped-key'], data: `${canonicalJson(file)}\n` },
            { ...outputs['public-key'], data: toPem(spki, 'PUBLIC KEY') },
          ],
          present: facts.present,
          details: {
            keyLabel: label,
            keyId: backup.id,
            keyType,
            spkiSha256: backup.spkiSha256,
            mechanism: backup.mechanism,
            wrappedSha256: sha256Hex(backup.wrapped),
            kek: { source: 'C_GenerateRandom', bytes: 32, splitId, threshold: kekCustody.threshold, custodians: kekCustody.custodians },
            proof: proofRecord(backup.proof),
          },
        });
      } finally {
        await again.close();
      }
    },
  };
}

function proofRecord(p: { algorithm: string; challenge: Uint8Array; signature: Uint8Array }) {
  return { algorithm: p.algorithm, challenge: Buffer.from(p.challenge).toString('base64'), signature: Buffer.from(p.signature).toString('base64') };
}

function readWrappedKey(field: string, given: string, baseDir: string): { file: WrappedKeyFile; input: InputFile; wrapped: Buffer; spki: Buffer } {
  const path = resolve(baseDir, given);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw refused(field, `cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw refused(field, `${path} is not a wrapped-key file (not JSON)`);
  }
  const r = wrappedKeyFile.safeParse(parsed);
  if (!r.success) throw refused(field, `${path} is not a ${WRAPPED_KEY_FORMAT} file: ${r.error.issues.map((i) => `${i.path.join('.') || '(top)'}: ${i.message}`).join('; ')}`);
  const spki = Buffer.from(r.data.spki, 'base64');
  if (sha256Hex(spki) !== r.data.spkiSha256) throw refused(field, `${path}: spkiSha256 is not the SHA-256 of spki (the file was altered)`);
  return { file: r.data, input: { field, given, path, sha256: sha256Hex(text) }, wrapped: Buffer.from(r.data.wrapped, 'base64'), spki };
}

export async function prepareKeyRestore(config: z.infer<typeof keyRestoreConfig>, env: CeremonyEnv): Promise<Prepared> {
  const backup = readWrappedKey('inputs.wrapped-key', config.inputs['wrapped-key'], env.baseDir);
  const pub = readPublicKeyInput('inputs.public-key', config.inputs['public-key'], env.baseDir);
  if (!bytesEqual(pub.spki, backup.spki)) throw refused('inputs.public-key', `SPKI sha256 ${pub.spkiSha256} is not the public key of the wrapped key (${backup.file.spkiSha256})`);
  if (pub.keyType !== backup.file.keyType) throw refused('inputs.wrapped-key', `says ${backup.file.keyType}, the public key is ${pub.keyType}`);
  const kekCustody = config['kek-custody'];
  if (kekCustody.threshold !== backup.file.kek.threshold) {
    throw refused('kek-custody.threshold', `${kekCustody.threshold}, but the backup's KEK was split ${backup.file.kek.threshold}-of-${backup.file.kek.custodians.length}`);
  }
  const outputs = ceremonyOutputs(config.outputs, env.baseDir);
  const label = config.key.label;
  // The KEK's custodians, before the HSM is opened: fewer than M shares and nothing else happens.
  const kek = await unlockKek(kekCustody, env.extras.kekShares ?? { kind: 'prompt' });
  if (kek.splitId !== backup.file.kek.splitId) {
    kek.kek.fill(0);
    throw refused('kek-custody', `the KEK shares are from split ${kek.splitId}, the backup's KEK was split as ${backup.file.kek.splitId}: shares of another backup`);
  }
  env.io.out(`KEK custody: ${kek.contributors.length} of ${kekCustody.custodians.length} custodians gave their shares (threshold ${kekCustody.threshold}); KEK restored in memory`);

  return {
    dispose: () => kek.kek.fill(0),
    summary: `key-restore: restore "${backup.file.label}" (${backup.file.keyType}, SPKI sha256 ${backup.file.spkiSha256}) as "${label}"`,
    async execute(hsm, facts) {
      try {
        const where = `token "${hsm.token.label}" (serial ${hsm.token.serial})`;
        if (hsm.store.list().some((k) => k.label === label)) throw new CeremonyError('hsm-mismatch', 'key.label', `a key labelled "${label}" already exists on ${where}`);
        await confirmPlan(
          env.io.out,
          `PLAN — key-restore: restore "${backup.file.label}" into ${where}`,
          [
            ...tokenLines(hsm),
            `  key:                 "${label}" ${backup.file.keyType}, id ${backup.file.id}, SPKI sha256 ${backup.file.spkiSha256}`,
            `  backup:              wrapped on token "${backup.file.token.label}" (serial ${backup.file.token.serial}) at ${backup.file.time}, ${backup.wrapped.length} bytes, ${backup.file.mechanism}`,
            `  KEK:                 from ${kek.contributors.length} custodian shares (${kek.contributors.join(', ')})`,
            `  restored key:        CKA_SENSITIVE, CKA_SIGN, not extractable; proven by a signature verified against the public key`,
            `  output:              ${outputs['restore-proof'].path}`,
            `  transcript:          ${env.transcriptPath}`,
          ],
          { yes: env.yes, confirm: env.io.confirm, action: 'restore this key into the HSM' },
        );
        // This process is logged in (the ceremony's one login): restoreKey uses that login and makes no attempt.
        const restored = restoreKey({
          module: hsm.target.module,
          token: hsm.target.token,
          userPin: facts.pin,
          key: { label, id: backup.file.id },
          wrapped: backup.wrapped,
          kek: kek.kek,
          keyType: backup.file.keyType,
          spki: backup.spki,
          mechanism: backup.file.mechanism,
        });
        kek.kek.fill(0);
        env.io.out(`restored "${label}" into ${where}; the token's ${restored.proof.algorithm} signature over a fresh challenge verifies against the backup's public key`);

        // And once more through the path every later signature takes: PoolSigner → session pool → token.
        const signer = await hsm.signer(label, restored.type, restored.spki, defaultAlgorithm(restored.type));
        const challenge = randomBytes(32);
        const signature = await signer.sign(challenge);
        const alg = defaultAlgorithm(restored.type);
        if (!nodeVerify(alg.slice(alg.lastIndexOf('-') + 1), challenge, createPublicKey({ key: backup.spki, format: 'der', type: 'spki' }), signature)) {
          throw new CeremonyError('hsm-mismatch', 'key.label', 'the restored key signed through the session pool, but the signature does not verify against the backup\'s public key');
        }
        const proof = {
          format: 'strongroom-restore-proof/v1',
          label,
          id: restored.id,
          keyType: restored.type,
          spkiSha256: restored.spkiSha256,
          token: restored.token,
          backupSha256: backup.input.sha256,
          tokenProof: proofRecord(restored.proof),
          poolProof: proofRecord({ algorithm: alg, challenge, signature }),
          attributes: restored.protection,
        };
        await writeAndRecord(env, hsm, {
          type: 'key-restore',
          signer,
          keys: [keyRecordFrom(restored)],
          outputs: [{ ...outputs['restore-proof'], data: `${canonicalJson(proof)}\n` }],
          present: facts.present,
          details: {
            keyLabel: label,
            keyId: restored.id,
            keyType: restored.type,
            spkiSha256: restored.spkiSha256,
            fromToken: backup.file.token,
            kek: { splitId: kek.splitId, threshold: kekCustody.threshold, present: kek.contributors.length },
            proof: proofRecord(restored.proof),
            poolProof: proof.poolProof,
            inputs: inputDetails([backup.input, pub]),
          },
        });
      } finally {
        kek.kek.fill(0);
      }
    },
  };
}
