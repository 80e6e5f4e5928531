/** CLI failures and their exit codes, documented in README: the one place errors become exit statuses. */
import { isHsmError, PinSourceError, Pkcs11UriError } from '../../hsm/index.ts';

export const EXIT = {
  ok: 0,
  failure: 1,
  usage: 2,
  credentials: 3,
  hsmUnavailable: 4,
} as const;

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export function exitCodeFor(e: unknown): number {
  if (e instanceof UsageError || e instanceof Pkcs11UriError || e instanceof PinSourceError) return EXIT.usage;
  if ((e as { name?: string })?.name === 'ZodError') return EXIT.usage;
  if (isHsmError(e)) {
    if (e.kind === 'auth') return EXIT.credentials;
    if (e.kind === 'unavailable') return EXIT.hsmUnavailable;
    if (e.kind === 'bad-request') return EXIT.usage;
  }
  return EXIT.failure;
}

export function messageFor(e: unknown): string {
  if ((e as { name?: string })?.name === 'ZodError') {
    const issues = (e as { issues: { path: (string | number)[]; message: string }[] }).issues;
    return issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
  }
  return e instanceof Error ? e.message : String(e);
}
