/**
 * The small result type every name parser and rule parser returns: a value, or the reason it was refused. Parsers
 * never throw on bad input — a CSR is untrusted data and its names are judged, not crashed on.
 */
export type Parsed<T> = { ok: true; value: T } | { ok: false; why: string };

export const accept = <T>(value: T): Parsed<T> => ({ ok: true, value });
export const refuse = <T = never>(why: string): Parsed<T> => ({ ok: false, why });

const SHOWN = 80;

/**
 * A name as it may appear in an error detail: JSON-quoted (so NUL, controls and commas are visible, never raw) and
 * cut to a bounded length (a request can carry a megabyte-long "name").
 */
export function shown(value: unknown): string {
  if (typeof value !== 'string') return `(${typeof value})`;
  const cut = value.length > SHOWN ? `${value.slice(0, SHOWN)}…` : value;
  return JSON.stringify(cut);
}

/** "U+0000 (NUL)"-style name of the first control character, or undefined. */
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

export function firstControl(s: string): string | undefined {
  const m = CONTROL.exec(s);
  if (!m) return undefined;
  const code = m[0].charCodeAt(0);
  const hex = `U+${code.toString(16).toUpperCase().padStart(4, '0')}`;
  return code === 0 ? `${hex} (NUL)` : hex;
}

/** Any character beyond ASCII (UTF-16 code units from U+0080 up, surrogates included). */
export function hasNonAscii(s: string): boolean {
  return /[\u0080-\uffff]/.test(s);
}
