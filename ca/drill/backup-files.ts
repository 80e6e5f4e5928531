/**
 * The key backups a restore drill restores: the wrapped-key files the key-backup ceremony writes
 * (strongroom-wrapped-key/v1, ca/ceremony/key-backup.ts), found in one folder. For each key label only the newest
 * backup (by the file's `time`) counts: that is the one a disaster recovery would use.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { wrappedKeyFile, type WrappedKeyFile } from '../ceremony/key-backup.ts';
import { DrillError } from './drill-error.ts';

export interface BackupFile {
  path: string;
  file: WrappedKeyFile;
  wrapped: Buffer;
  spki: Buffer;
  /** SHA-256 of the file as read, for the audit entry. */
  sha256: string;
}

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

/** Every *.wrapped.json under `dir` must be a valid backup: a damaged one is a failed drill, not a skipped file. */
export function latestBackups(dir: string): BackupFile[] {
  const folder = resolve(dir);
  let names: string[];
  try {
    names = readdirSync(folder).filter((n) => n.endsWith('.wrapped.json'));
  } catch (e) {
    throw new DrillError('no-backup', `cannot read the backup folder ${folder}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  if (names.length === 0) throw new DrillError('no-backup', `no key backups (*.wrapped.json) in ${folder}`);
  const newest = new Map<string, BackupFile>();
  for (const name of names.sort()) {
    const b = readBackup(join(folder, name));
    const seen = newest.get(b.file.label);
    if (!seen || Date.parse(b.file.time) > Date.parse(seen.file.time)) newest.set(b.file.label, b);
  }
  return [...newest.values()];
}

function readBackup(path: string): BackupFile {
  const text = readFileSync(path, 'utf8');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new DrillError('damaged-backup', `${path} is not JSON`);
  }
  const r = wrappedKeyFile.safeParse(json);
  if (!r.success) throw new DrillError('damaged-backup', `${path} is not a wrapped-key file: ${r.error.issues.map((i) => `${i.path.join('.') || '(top)'}: ${i.message}`).join('; ')}`);
  if (Number.isNaN(Date.parse(r.data.time))) throw new DrillError('damaged-backup', `${path}: time is not a date`);
  const spki = Buffer.from(r.data.spki, 'base64');
  // The recorded SPKI is what every restored key is compared with: it must be the one the file says it is.
  if (sha256(spki) !== r.data.spkiSha256) throw new DrillError('damaged-backup', `${path}: spkiSha256 is not the SHA-256 of spki (the file was altered)`);
  return { path, file: r.data, wrapped: Buffer.from(r.data.wrapped, 'base64'), spki, sha256: sha256(text) };
}
