/**
 * From what the client sent to DER bytes: the size limit first (before anything is decoded), then either DER
 * as is or exactly one strict PEM block labelled CERTIFICATE REQUEST (or the legacy NEW CERTIFICATE REQUEST).
 * Strict means RFC 7468's "strict" grammar: nothing but whitespace around the block, no explanatory text, no
 * RFC 1421 headers, base64 lines of the base64 alphabet only, canonical padding.
 */
import { badCsr, CsrError } from './errors.ts';

export const CSR_MAX_BYTES = 64 * 1024;

const LABELS = new Set(['CERTIFICATE REQUEST', 'NEW CERTIFICATE REQUEST']);

export function csrInputBytes(input: string | Uint8Array, maxBytes = CSR_MAX_BYTES): Uint8Array {
  const tooLarge = () => new CsrError('too_large', `a CSR may be at most ${maxBytes} bytes`);
  if (typeof input === 'string') {
    // A string's UTF-8 form is at least as long as the string: refuse huge ones without measuring them.
    if (input.length > maxBytes || Buffer.byteLength(input, 'utf8') > maxBytes) throw tooLarge();
    return pemToDer(input);
  }
  if (!(input instanceof Uint8Array)) throw badCsr('expected a PEM or DER CSR');
  if (input.length > maxBytes) throw tooLarge();
  if (input.length === 0) throw badCsr('empty CSR');
  if (input[0] === 0x30) return input; // DER: a SEQUENCE
  // Otherwise it must be PEM text, which is ASCII.
  for (const b of input) if (b > 0x7e) throw badCsr('neither DER nor PEM');
  return pemToDer(Buffer.from(input.buffer, input.byteOffset, input.length).toString('latin1'));
}

function pemToDer(text: string): Uint8Array {
  const begins = countOf(text, '-----BEGIN');
  const ends = countOf(text, '-----END');
  if (begins === 0 && ends === 0) throw badCsr('expected a PEM CERTIFICATE REQUEST block');
  if (begins !== ends) throw badCsr('PEM: BEGIN and END lines do not pair up');
  if (begins !== 1) throw badCsr(`expected exactly one PEM block, found ${begins}`);
  const lines = text.replace(/^[ \t\r\n]+/, '').replace(/[ \t\r\n]+$/, '').split(/\r?\n/);
  if (lines.length < 3) throw badCsr('PEM: malformed block');
  const begin = /^-----BEGIN ([A-Z ]{1,40})-----$/.exec(lines[0]!);
  const end = /^-----END ([A-Z ]{1,40})-----$/.exec(lines[lines.length - 1]!);
  if (!begin || !end) throw badCsr('PEM: text outside the block, or malformed boundary lines');
  if (!LABELS.has(begin[1]!) || begin[1] !== end[1]) throw badCsr('PEM: not a CERTIFICATE REQUEST block');
  const body = lines.slice(1, -1);
  if (body.some((l) => !/^[A-Za-z0-9+/=]+$/.test(l))) throw badCsr('PEM: invalid base64 (or headers, blank lines or stray characters)');
  const b64 = body.join('');
  if (b64.length % 4 !== 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) throw badCsr('PEM: invalid base64');
  const der = Buffer.from(b64, 'base64');
  if (der.toString('base64') !== b64) throw badCsr('PEM: non-canonical base64');
  return Uint8Array.from(der);
}

function countOf(text: string, needle: string): number {
  let n = 0;
  for (let at = text.indexOf(needle); at >= 0; at = text.indexOf(needle, at + needle.length)) n++;
  return n;
}
