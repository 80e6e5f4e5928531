/**
 * Ceremony outputs are created exclusively: an existing file is never overwritten. Every path is checked before
 * the HSM is opened, then written with O_EXCL, so a ceremony either writes all of its outputs or refuses early.
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, openSync, writeSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

export class OutputExistsError extends Error {
  override readonly name = 'OutputExistsError';
}

export interface WrittenOutput {
  path: string;
  sha256: string;
}

/** Resolves output paths against the config file's directory and refuses if any exists or its folder does not. */
export function checkOutputs(paths: Record<string, string>, baseDir: string): Record<string, string> {
  const resolved: Record<string, string> = {};
  const seen = new Set<string>();
  for (const [field, p] of Object.entries(paths)) {
    const abs = resolve(baseDir, p);
    if (existsSync(abs)) throw new OutputExistsError(`outputs.${field}: ${abs} already exists; a ceremony never overwrites`);
    if (!existsSync(dirname(abs))) throw new OutputExistsError(`outputs.${field}: folder ${dirname(abs)} does not exist`);
    if (seen.has(abs)) throw new OutputExistsError(`outputs.${field}: ${abs} is named twice`);
    seen.add(abs);
    resolved[field] = abs;
  }
  return resolved;
}

export function writeExclusive(path: string, data: string | Uint8Array): WrittenOutput {
  const fd = openSync(path, 'wx', 0o644);
  try {
    writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return { path, sha256: createHash('sha256').update(data).digest('hex') };
}
