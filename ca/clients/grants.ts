/**
 * What a client is granted, stored as api_clients.grants (jsonb):
 *
 *   { "profiles": ["tls-server"], "names": { "dns": ["*.svc.internal"], "ip": [...], "uri": [...], "email": [...] },
 *     "admin": false, "expiresAt": "2027-01-01T00:00:00.000Z" }
 *
 * - profiles: the leaf profiles it may request;
 * - names: a rule set (ca/policy) every requested name must satisfy, on top of the profile's own rules — deny by
 *   default: a client without name rules gets only certificates without SANs (ocsp-signer, tsa);
 * - admin: may read and revoke every certificate, not only those it obtained, and revoke for cACompromise;
 * - expiresAt: optional; after it the token is refused like an unknown one.
 *
 * Validated strictly on the way in (CLI) and again on every read (a hand-edited row must not widen anything):
 * unknown keys, wrong types and bad rules are errors.
 */
import { z } from 'zod';
import { compileRuleSet, type RuleSet } from '../policy/index.ts';

const PROFILE_NAME = /^[a-z0-9]+(-[a-z0-9]+)*$/;
const rules = z.array(z.string().min(1).max(300)).max(1000).optional();

export const grantsSchema = z.strictObject({
  profiles: z
    .array(z.string().regex(PROFILE_NAME, 'a profile name: lowercase words joined by "-"').max(64))
    .max(64)
    .refine((a) => new Set(a).size === a.length, 'a profile is listed twice'),
  names: z.strictObject({ dns: rules, ip: rules, uri: rules, email: rules }).default({}),
  admin: z.boolean().default(false),
  expiresAt: z.iso.datetime().optional(),
});

export type GrantsInput = z.input<typeof grantsSchema>;
export type GrantsDocument = z.output<typeof grantsSchema>;

export interface Grants {
  profiles: readonly string[];
  /** The stored text of the name rules (normalized by compileRuleSet's parsers only when compiled). */
  names: GrantsDocument['names'];
  rules: RuleSet;
  admin: boolean;
  expiresAt?: Date;
}

export class GrantsError extends Error {
  override readonly name = 'GrantsError';
}

/**
 * Grants that validated, by their JSON text: every request's bearer token reads its client's row, and validating
 * and compiling the same grants again cost ~0.2 ms a request. A hit answers what validating that text would; the
 * objects are frozen because they are shared. Bounded, oldest first out.
 */
const validated = new Map<string, Grants>();
const VALIDATED_MAX = 256;

export function parseGrants(input: unknown): Grants {
  let key: string | undefined;
  try {
    key = JSON.stringify(input);
  } catch {
    key = undefined; // not JSON (a cycle, a BigInt): validation below says why
  }
  const hit = key === undefined ? undefined : validated.get(key);
  if (hit) return hit;
  const grants = validate(input);
  if (key !== undefined) {
    if (validated.size >= VALIDATED_MAX) validated.delete(validated.keys().next().value!);
    validated.set(key, grants);
  }
  return grants;
}

function validate(input: unknown): Grants {
  const r = grantsSchema.safeParse(input);
  if (!r.success) throw new GrantsError(r.error.issues.map((i) => `${i.path.join('.') || '(grants)'}: ${i.message}`).join('; '));
  const names = Object.fromEntries(Object.entries(r.data.names).filter(([, v]) => v !== undefined));
  const compiled = compileRuleSet(names);
  if (!compiled.ok) throw new GrantsError(compiled.problems.map((p) => `names.${p.field}: ${p.why}`).join('; '));
  return Object.freeze({
    profiles: Object.freeze(r.data.profiles),
    names: Object.freeze(r.data.names),
    rules: compiled.rules,
    admin: r.data.admin,
    ...(r.data.expiresAt !== undefined ? { expiresAt: new Date(r.data.expiresAt) } : {}),
  });
}
