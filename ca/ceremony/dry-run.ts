/**
 * --dry-run: the same ceremony, rehearsed against a throwaway SoftHSM2 token.
 *
 * SoftHSM2 reads SOFTHSM2_CONF once, when the module is loaded, and a process may already have loaded it for the
 * real token (or for anything else). So the rehearsal runs in a child process (`strongroom ceremony run FILE
 * --internal-dry-run-child DIR`) whose SOFTHSM2_CONF points at a fresh token directory inside DIR, set before
 * anything loads the module. The parent has already run every check that needs no HSM against the real inputs,
 * the real output paths and the real transcript (the CRL number rule included).
 *
 * In the child: a token with the config's label, a random PIN nobody needs to know (no shares are collected),
 * throwaway keys of the same types under the same labels, and — where the ceremony signs under an issuer
 * certificate — a throwaway issuer certificate with the same subject, validity and extensions (its key identifiers
 * follow its throwaway key). Outputs and a fresh transcript go to DIR/out. The TBS it signs is the real one's
 * except for the key-dependent fields: serial, subject public key, SKI, AKI (and the signature).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AsnConvert } from '@peculiar/asn1-schema';
import { Extension, Name } from '@peculiar/asn1-x509';
import { initSoftToken, SOFTHSM_MODULE } from '../../hsm/index.ts';
import { algorithmFits, defaultAlgorithm } from '../../hsm/key-spec.ts';
import {
  authorityKeyIdentifier,
  buildTbsCertificate,
  EXTENSION_OIDS,
  findSignatureAlgorithm,
  keyIdentifier,
  signCertificate,
  subjectKeyIdentifier,
  toPem,
} from '../x509/index.ts';
import { toBytes } from '../x509/der.ts';
import type { CeremonyIo } from './ceremony.ts';
import type { CeremonyConfig } from './config.ts';
import { openCeremonyHsm } from './context.ts';
import { CeremonyError } from './errors.ts';
import { readCertificateInput, readPublicKeyInput, type CeremonyKeyType } from './inputs.ts';

export const DRY_RUN_CHILD_FLAG = '--internal-dry-run-child';
const MARKER = '.strongroom-dry-run';

const confOf = (workDir: string) => join(workDir, 'softhsm2.conf');

/** Runs the rehearsal in a child process; returns its exit code. */
export async function spawnDryRun(configPath: string, io: CeremonyIo): Promise<number> {
  if (!existsSync(SOFTHSM_MODULE)) throw new CeremonyError('refused', undefined, `--dry-run needs SoftHSM2 (${SOFTHSM_MODULE}) for its throwaway token`);
  const workDir = mkdtempSync(join(tmpdir(), 'strongroom-dry-run-'));
  const tokens = join(workDir, 'tokens');
  for (const d of [tokens, join(workDir, 'in'), join(workDir, 'out')]) mkdirSync(d, { mode: 0o700 });
  writeFileSync(confOf(workDir), `directories.tokendir = ${tokens}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n`, { mode: 0o600 });
  writeFileSync(join(workDir, MARKER), 'a Strongroom ceremony dry run: throwaway token and outputs\n', { mode: 0o600 });

  const env: NodeJS.ProcessEnv = { ...process.env, SOFTHSM2_CONF: confOf(workDir) };
  // Nothing of the real token reaches the rehearsal.
  for (const k of Object.keys(env)) if (k.startsWith('STRONGROOM_HSM_')) delete env[k];
  const launcher = fileURLToPath(new URL('../cli/strongroom.mjs', import.meta.url));
  io.out(`dry run: rehearsing in a child process on a throwaway SoftHSM2 token in ${workDir}`);
  const child = spawn(process.execPath, [launcher, 'ceremony', 'run', configPath, '--yes', DRY_RUN_CHILD_FLAG, workDir], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const forward = (stream: NodeJS.ReadableStream, to: (line: string) => void) => {
    let buffered = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      buffered += chunk;
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      for (const l of lines) to(`[dry run] ${l}`);
    });
    stream.on('end', () => {
      if (buffered) to(`[dry run] ${buffered}`);
    });
  };
  forward(child.stdout, io.out);
  forward(child.stderr, io.err);
  const code = await new Promise<number>((done) => {
    child.on('error', (e) => {
      io.err(`dry run: cannot start the child process: ${e.message}`);
      done(1);
    });
    child.on('close', (status) => done(status ?? 1));
  });
  io.out(
    code === 0
      ? `dry run complete: outputs and transcript in ${join(workDir, 'out')}; nothing was written at the real paths and the real HSM was not used`
      : `dry run failed (exit ${code}); its files are in ${workDir}`,
  );
  return code;
}

export interface DryRunSetup {
  config: CeremonyConfig;
  pin: string;
}

/**
 * In the child: checks it really is a dry-run child (a fresh marked directory that SOFTHSM2_CONF points into),
 * creates the throwaway token and materials, and returns the config rewritten onto them.
 */
export async function setupDryRunChild(config: CeremonyConfig, baseDir: string, workDir: string, io: CeremonyIo): Promise<DryRunSetup> {
  const dir = resolve(workDir);
  if (!existsSync(join(dir, MARKER)) || process.env.SOFTHSM2_CONF !== confOf(dir) || readdirSync(join(dir, 'tokens')).length !== 0) {
    throw new CeremonyError('refused', undefined, `${DRY_RUN_CHILD_FLAG} is internal to --dry-run: use --dry-run`);
  }
  if (config.type === 'key-backup' || config.type === 'key-restore') {
    throw new CeremonyError('unavailable', 'type', `${config.type} ceremonies are not available yet; nothing to rehearse`);
  }
  const label = config.hsm.token.label ?? 'dry-run';
  const pin = randomBytes(16).toString('hex');
  initSoftToken({ module: SOFTHSM_MODULE, label, soPin: randomBytes(16).toString('hex'), userPin: pin });
  io.out(`DRY RUN: throwaway SoftHSM2 token "${label}" in ${dir}; the real HSM and the real output paths are not touched`);

  const inDir = join(dir, 'in');
  const outPath = (given: string) => join(dir, 'out', basename(given));
  const abs = (given: string) => resolve(baseDir, given);
  const hsm = { module: SOFTHSM_MODULE, token: { label } };
  const transcript = join(dir, 'out', 'transcript.jsonl');

  switch (config.type) {
    case 'root-key':
      return { pin, config: { ...config, hsm, transcript, outputs: { 'public-key': outPath(config.outputs['public-key']) } } };
    case 'root-cert': {
      const real = readPublicKeyInput('inputs.public-key', config.inputs['public-key'], baseDir);
      const spki = await throwawayKey(hsm, pin, config['signing-key'].label, real.keyType, io);
      const file = join(inDir, 'public-key.pem');
      writeFileSync(file, toPem(spki, 'PUBLIC KEY'));
      return { pin, config: { ...config, hsm, transcript, inputs: { 'public-key': file }, outputs: { certificate: outPath(config.outputs.certificate) } } };
    }
    case 'intermediate-cert': {
      const issuer = await throwawayIssuer(hsm, pin, config['signing-key'].label, config.inputs['issuer-certificate'], baseDir, inDir, io);
      const inputs = {
        'issuer-certificate': issuer,
        ...(config.inputs['public-key'] !== undefined ? { 'public-key': abs(config.inputs['public-key']) } : {}),
        ...(config.inputs.csr !== undefined ? { csr: abs(config.inputs.csr) } : {}),
      };
      return { pin, config: { ...config, hsm, transcript, inputs, outputs: { certificate: outPath(config.outputs.certificate) } } };
    }
    case 'cross-cert': {
      const issuer = await throwawayIssuer(hsm, pin, config['signing-key'].label, config.inputs['issuer-certificate'], baseDir, inDir, io);
      const inputs = { 'issuer-certificate': issuer, 'certificate-to-cross-sign': abs(config.inputs['certificate-to-cross-sign']) };
      return { pin, config: { ...config, hsm, transcript, inputs, outputs: { certificate: outPath(config.outputs.certificate) } } };
    }
    case 'root-crl': {
      const issuer = await throwawayIssuer(hsm, pin, config['signing-key'].label, config.inputs['issuer-certificate'], baseDir, inDir, io);
      return { pin, config: { ...config, hsm, transcript, inputs: { 'issuer-certificate': issuer }, outputs: { crl: outPath(config.outputs.crl) } } };
    }
  }
}

async function throwawayKey(target: { module: string; token: { label: string } }, pin: string, label: string, type: CeremonyKeyType, io: CeremonyIo): Promise<Uint8Array> {
  const hsm = openCeremonyHsm(target, pin);
  try {
    const key = hsm.store.generate({ type, label });
    io.out(`DRY RUN: throwaway ${type} key "${label}" generated (SPKI sha256 ${key.spkiSha256})`);
    return key.spki;
  } finally {
    await hsm.close();
  }
}

/**
 * A self-signed stand-in for the issuer certificate: same subject, validity, serial and extensions (SKI and AKI
 * recomputed for the throwaway key), signed by a throwaway key of the same type under the signing key's label.
 */
async function throwawayIssuer(target: { module: string; token: { label: string } }, pin: string, label: string, given: string, baseDir: string, inDir: string, io: CeremonyIo): Promise<string> {
  const real = readCertificateInput('inputs.issuer-certificate', given, baseDir);
  const hsm = openCeremonyHsm(target, pin);
  try {
    const key = hsm.store.generate({ type: real.keyType, label });
    const tbs = real.info.certificate.tbsCertificate;
    const realAlg = findSignatureAlgorithm(tbs.signature);
    const algorithm = realAlg && algorithmFits(real.keyType, realAlg) ? realAlg : defaultAlgorithm(real.keyType);
    const name = AsnConvert.parse(real.info.subjectDer, Name);
    const extensions = (tbs.extensions ?? []).map((e) =>
      e.extnID === EXTENSION_OIDS.subjectKeyIdentifier
        ? subjectKeyIdentifier(key.spki)
        : e.extnID === EXTENSION_OIDS.authorityKeyIdentifier
          ? authorityKeyIdentifier(keyIdentifier(key.spki))
          : new Extension({ extnID: e.extnID, critical: e.critical, extnValue: e.extnValue }),
    );
    const { der } = buildTbsCertificate({
      serial: toBytes(tbs.serialNumber),
      issuer: name,
      subject: name,
      notBefore: real.info.notBefore,
      notAfter: real.info.notAfter,
      spki: key.spki,
      signatureAlgorithm: algorithm,
      extensions,
    });
    const signer = await hsm.signer(label, key.type, key.spki, algorithm);
    const signed = await signCertificate(der, signer);
    const file = join(inDir, 'issuer-certificate.pem');
    writeFileSync(file, signed.pem);
    io.out(`DRY RUN: throwaway issuer certificate for "${label}" (same subject, validity and extensions as ${real.path})`);
    return file;
  } finally {
    await hsm.close();
  }
}
