// A throwaway PKI made with the openssl CLI, and openssl as the reference OCSP client: it makes the requests we
// parse and verifies the responses we build.
import { execFile } from 'node:child_process';
import { createPrivateKey, type KeyObject } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openssl, tempDir } from '../../x509/openssl.ts';

export interface Pki {
  dir: string;
  caDer: Uint8Array;
  /** Leaf certificates by file name, with the serial as the CA spells it. */
  leaves: Record<'leaf' | 'leaf2', { file: string; serial: string }>;
  ecResponder: { certDer: Uint8Array; key: KeyObject };
  rsaResponder: { certDer: Uint8Array; key: KeyObject };
  ed25519Responder: { certDer: Uint8Array; key: KeyObject };
}

function run(args: string[], dir: string): string {
  const r = openssl(args, dir);
  if (!r.ok) throw new Error(`openssl ${args.join(' ')} failed:\n${r.out}`);
  return r.out;
}

function pemToDer(path: string): Uint8Array {
  const pem = readFileSync(path, 'utf8');
  return Uint8Array.from(Buffer.from(pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64'));
}

/**
 * The PKI, made once per test run (under the run's STRONGROOM_TEST_ROOT, shared by this folder's files, which
 * vitest runs one at a time) or in a fresh temp dir outside vitest.
 */
export function makePki(): Pki {
  const root = process.env.STRONGROOM_TEST_ROOT;
  const cached = root ? join(root, 'ocsp-encoding-pki') : undefined;
  if (cached && existsSync(cached)) return load(cached);
  const dir = tempDir('ocsp-encoding');
  generate(dir);
  if (!cached) return load(dir);
  renameSync(dir, cached);
  return load(cached);
}

function generate(dir: string): void {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  run(['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-subj', '/O=Strongroom Test/CN=Test CA', '-days', '30',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);
  run(['req', '-new', ...ec, '-keyout', 'leaf.key', '-subj', '/CN=leaf', '-out', 'leaf.csr'], dir);
  run(['req', '-new', ...ec, '-keyout', 'ec-responder.key', '-subj', '/CN=OCSP responder EC', '-out', 'ec-responder.csr'], dir);
  run(['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'rsa-responder.key', '-subj', '/CN=OCSP responder RSA', '-out', 'rsa-responder.csr'], dir);
  run(['req', '-new', '-newkey', 'ed25519', '-nodes', '-keyout', 'ed25519-responder.key', '-subj', '/CN=OCSP responder Ed25519', '-out', 'ed25519-responder.csr'], dir);
  writeFileSync(join(dir, 'ocsp.ext'), 'extendedKeyUsage=critical,OCSPSigning\nkeyUsage=critical,digitalSignature\n');
  const issue = (csr: string, out: string, serial: string, ext = false) =>
    run(['x509', '-req', '-in', csr, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-set_serial', serial, '-days', '10', '-out', out, ...(ext ? ['-extfile', 'ocsp.ext'] : [])], dir);
  // A serial with its top bit set (DER adds a 0x00 sign octet) and one whose first octet is below 0x10.
  issue('leaf.csr', 'leaf.pem', '0x8a1f2e3d4c5b6a79');
  issue('leaf.csr', 'leaf2.pem', '0x0a1f2e3d4c5b6a79');
  issue('ec-responder.csr', 'ec-responder.pem', '0x11', true);
  issue('rsa-responder.csr', 'rsa-responder.pem', '0x12', true);
  issue('ed25519-responder.csr', 'ed25519-responder.pem', '0x13', true);
}

function load(dir: string): Pki {
  const key = (name: string) => createPrivateKey(readFileSync(join(dir, name)));
  return {
    dir,
    caDer: pemToDer(join(dir, 'ca.pem')),
    leaves: { leaf: { file: 'leaf.pem', serial: '8a1f2e3d4c5b6a79' }, leaf2: { file: 'leaf2.pem', serial: 'a1f2e3d4c5b6a79' } },
    ecResponder: { certDer: pemToDer(join(dir, 'ec-responder.pem')), key: key('ec-responder.key') },
    rsaResponder: { certDer: pemToDer(join(dir, 'rsa-responder.pem')), key: key('rsa-responder.key') },
    ed25519Responder: { certDer: pemToDer(join(dir, 'ed25519-responder.pem')), key: key('ed25519-responder.key') },
  };
}

/** `openssl ocsp … -reqout`: `args` go before -reqout, e.g. ['-sha256', '-cert', 'leaf.pem', '-nonce']. */
export function opensslRequest(pki: Pki, args: string[], name = 'req.der'): Uint8Array {
  run(['ocsp', '-issuer', 'ca.pem', ...args, '-reqout', name], pki.dir);
  return Uint8Array.from(readFileSync(join(pki.dir, name)));
}

/**
 * `openssl ocsp -respin` checking the signature against the CA. With `certs`, statuses are printed per
 * certificate (openssl builds its own request from them: -no_nonce, or it would expect its own random nonce); with
 * `reqin`, the response's nonce is checked against that request's (and statuses appear only in -resp_text).
 */
export function opensslVerify(pki: Pki, response: Uint8Array, { certs = [], reqin }: { certs?: string[]; reqin?: string } = {}): { ok: boolean; out: string } {
  writeFileSync(join(pki.dir, 'resp.der'), response);
  const args = ['ocsp', '-respin', 'resp.der', '-issuer', 'ca.pem', '-CAfile', 'ca.pem', '-resp_text'];
  if (reqin) args.push('-reqin', reqin);
  else if (certs.length) args.push(...certs.flatMap((c) => ['-cert', c]), '-no_nonce');
  return openssl(args, pki.dir);
}

/** `openssl ocsp -url` against a live responder: openssl makes the request (with a nonce) and checks the answer. */
export function opensslQuery(pki: Pki, url: string, args: string[]): Promise<{ ok: boolean; out: string }> {
  return new Promise((resolve, reject) => {
    execFile('openssl', ['ocsp', '-issuer', 'ca.pem', ...args, '-url', url, '-CAfile', 'ca.pem', '-resp_text'], { cwd: pki.dir }, (error, stdout, stderr) => {
      if (error && typeof error.code !== 'number') reject(error);
      else resolve({ ok: !error, out: `${stdout}${stderr}` });
    });
  });
}
