// Baseline for bench:hsm: one process, one session, signing in a tight synchronous loop — the physical limit a
// pool is measured against. Does the same work per signature as a pool worker (hash, C_SignInit + C_Sign, DER).
import { findOne } from '../hsm/key-objects.ts';
import { readPublicKey } from '../hsm/key-objects.ts';
import { signOnSession } from '../hsm/sign-operation.ts';
import { findSlot, loadModule, login, openSession, pkcs11js } from '../hsm/token.ts';

const [module, label, keyLabel, seconds, startAt, mode] = process.argv.slice(2) as [string, string, string, string, string, string];
const p = loadModule(module);
const session = openSession(p, findSlot(p, { label }));
login(p, session, process.env.BENCH_PIN!);
let key = findOne(p, session, pkcs11js.CKO_PRIVATE_KEY, { label: keyLabel });
const { keyType } = readPublicKey(p, session, findOne(p, session, pkcs11js.CKO_PUBLIC_KEY, { label: keyLabel }));
if (mode === 'session-copy') key = p.C_CopyObject(session, key, [{ type: pkcs11js.CKA_TOKEN, value: false }]);
const alg = keyType === 'ec-p256' ? 'ecdsa-sha256' : keyType === 'ec-p384' ? 'ecdsa-sha384' : 'rsa-pkcs1-sha256';
const out = Buffer.alloc(1024);
const data = Buffer.alloc(256, 7);
while (Date.now() < Number(startAt)) {
  // wait for the common start so both processes measure the same window
}
const end = Date.now() + Number(seconds) * 1000;
let n = 0;
while (Date.now() < end) {
  for (let i = 0; i < 20; i++) signOnSession(p, session, key, keyType, alg, data, 'der', out);
  n += 20;
}
process.stdout.write(JSON.stringify({ ops: n, seconds: Number(seconds) }));
