/** `strongroom tsa show SERIAL`: a recorded time-stamp token — serial, time, policy, imprint, nonce — and the token. */
import { parseArgs } from 'node:util';
import { databaseUrlFromEnv, openDatabase } from '../db/connect.ts';
import { TimestampStore } from '../db/timestamp-store.ts';
import { EXIT, UsageError } from './cli-error.ts';
import { dataDirOf } from './hsm-options.ts';

export const TSA_USAGE = `strongroom tsa show SERIAL [--der FILE] [--data-dir DIR]
  shows the recorded token with that serial (decimal, or 0x-hex as openssl ts -reply -text prints it):
  genTime, policy, imprint, nonce, the TSA certificate's SHA-256; --der writes the token (DER, without the
  certificates field) for openssl ts -verify -token_in.
Database: DATABASE_URL, else the embedded database in the data directory.`;

type Out = (line: string) => void;

export async function tsaCommand(argv: string[], out: Out, err: Out = out): Promise<number> {
  const [sub, ...rest] = argv;
  if (!sub || sub === 'help' || sub === '--help') {
    out(TSA_USAGE);
    return sub ? EXIT.ok : EXIT.usage;
  }
  if (sub !== 'show') throw new UsageError(`unknown tsa command "${sub}"\n${TSA_USAGE}`);
  let values: { 'data-dir'?: string; der?: string };
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({ args: rest, options: { 'data-dir': { type: 'string' }, der: { type: 'string' } }, strict: true, allowPositionals: true }));
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const raw = positionals[0];
  if (positionals.length !== 1 || !raw || !/^(?:[1-9]\d{0,18}|0x[0-9a-fA-F]{1,16})$/.test(raw) || BigInt(raw) > 2n ** 63n - 1n) {
    throw new UsageError(`tsa show takes one serial (decimal or 0x-hex)\n${TSA_USAGE}`);
  }
  const url = databaseUrlFromEnv();
  const db = await openDatabase({ ...(url ? { url } : {}), dataDir: dataDirOf(values) });
  try {
    const t = await new TimestampStore(db).bySerial(BigInt(raw));
    if (!t) {
      err(`strongroom: no time-stamp token with serial ${raw}`);
      return EXIT.failure;
    }
    out(`serial       ${t.serial} (0x${t.serial.toString(16)})`);
    out(`genTime      ${t.genTime.toISOString()}`);
    out(`policy       ${t.policy}`);
    out(`imprint      ${t.hashAlgorithm} ${Buffer.from(t.imprint).toString('hex')}`);
    out(`nonce        ${t.nonce ? `0x${Buffer.from(t.nonce).toString('hex')}` : '(none)'}`);
    out(`tsa cert     sha256 ${t.tsaCertSha256}`);
    if (values.der) {
      const { writeFileSync } = await import('node:fs');
      writeFileSync(values.der, t.tokenDer);
      out(`token        ${t.tokenDer.length} bytes written to ${values.der}`);
    } else {
      out(`token        ${Buffer.from(t.tokenDer).toString('base64')}`);
    }
    return EXIT.ok;
  } finally {
    await db.destroy();
  }
}
