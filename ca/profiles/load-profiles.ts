/**
 * Loads `profiles/*.yaml` at start-up. Every file is read and judged before anything starts; any problem — YAML
 * syntax, a key given twice, an unknown key, a wrong type, a bad rule, a broken cross-field rule, a name that is
 * not the file's — stops start-up with a ProfileError whose message names the file and the field:
 *
 *   profiles/tls-server.yaml: san.dns.allowed[2]: partial-label wildcard: "*" must be a whole label
 *
 * Files other than *.yaml are ignored (README.md lives there), except *.yml, which is refused rather than silently
 * skipped. A directory with no profile at all is an error too.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import type { Profile } from './profile.ts';
import { profileSchema } from './profile-schema.ts';

export interface ProfileIssue {
  file: string;
  /** `san.dns.allowed[2]`, `(file)` for a problem with the file as a whole, `(yaml)` for syntax. */
  field: string;
  message: string;
}

export class ProfileError extends Error {
  override readonly name = 'ProfileError';
  readonly file: string;
  readonly field: string;
  constructor(readonly issues: readonly ProfileIssue[]) {
    super(issues.map((i) => `${i.file}: ${i.field}: ${i.message}`).join('\n'));
    this.file = issues[0]?.file ?? '';
    this.field = issues[0]?.field ?? '';
  }
}

/** `a.b[2].c` from a zod path. */
export function fieldPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : `${out ? '.' : ''}${String(p)}`;
  return out || '(top level)';
}

function describe(issue: z.core.$ZodIssue): { field: string; message: string }[] {
  if (issue.code === 'unrecognized_keys') return issue.keys.map((k) => ({ field: fieldPath([...issue.path, k]), message: 'unknown key' }));
  if (issue.code === 'invalid_type' && /received undefined/.test(issue.message)) return [{ field: fieldPath(issue.path), message: 'required field is missing' }];
  return [{ field: fieldPath(issue.path), message: issue.message }];
}

/** Parses one profile document; `file` is used for messages and must end in `<name>.yaml`. */
export function parseProfile(text: string, file: string): Profile {
  const fail = (field: string, message: string) => new ProfileError([{ file, field, message }]);
  let doc: unknown;
  try {
    // uniqueKeys: a key given twice is as suspicious as a misspelled one.
    doc = parseYaml(text, { strict: true, uniqueKeys: true, prettyErrors: true });
  } catch (e) {
    throw fail('(yaml)', (e as Error).message.replace(/\s+/g, ' ').trim());
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw fail('(top level)', 'expected a mapping of profile fields');
  const r = profileSchema.safeParse(doc);
  if (!r.success) throw new ProfileError(r.error.issues.flatMap(describe).map((i) => ({ file, ...i })));
  const expected = /([^/\\]+)\.yaml$/.exec(file)?.[1];
  if (expected !== undefined && r.data.name !== expected) throw fail('name', `"${r.data.name}" must match the file name ("${expected}")`);
  return { ...r.data, file };
}

/** Every `*.yaml` in `dir`, by profile name. Throws ProfileError listing every problem in every file. */
export function loadProfiles(dir: string): Map<string, Profile> {
  let entries: string[];
  try {
    entries = readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isFile())
      .map((e) => e.name)
      .sort();
  } catch (e) {
    throw new ProfileError([{ file: dir, field: '(directory)', message: (e as Error).message }]);
  }
  const issues: ProfileIssue[] = [];
  const profiles = new Map<string, Profile>();
  for (const entry of entries) {
    const file = join(dir, entry);
    if (entry.endsWith('.yml')) {
      issues.push({ file, field: '(file)', message: 'profiles use the .yaml extension' });
      continue;
    }
    if (!entry.endsWith('.yaml')) continue;
    try {
      const profile = parseProfile(readFileSync(file, 'utf8'), file);
      profiles.set(profile.name, profile);
    } catch (e) {
      if (e instanceof ProfileError) issues.push(...e.issues);
      else issues.push({ file, field: '(file)', message: (e as Error).message });
    }
  }
  if (issues.length) throw new ProfileError(issues);
  if (profiles.size === 0) throw new ProfileError([{ file: dir, field: '(directory)', message: 'no profiles (*.yaml) found' }]);
  return profiles;
}
