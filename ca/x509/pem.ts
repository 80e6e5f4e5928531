/**
 * DER ↔ PEM (RFC 7468). Parsing is strict: exactly one block with the expected label, nothing but whitespace
 * around it, canonical base64 (no stray characters, no non-zero padding bits), and DER inside that is one
 * complete value. Ceremony inputs arrive as files; a second block or trailing bytes there is a mistake or an
 * attack, never something to skip over.
 */
import { readSingleTlv } from './der.ts';
import { X509Error } from './errors.ts';

export type PemLabel = 'CERTIFICATE' | 'X509 CRL' | 'PUBLIC KEY' | 'CERTIFICATE REQUEST';

export function toPem(der: Uint8Array, label: PemLabel): string {
  const b64 = Buffer.from(der).toString('base64');
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

export function fromPem(text: string, label: PemLabel): Uint8Array {
  const fail = (why: string) => new X509Error('pem', `${label} PEM: ${why}`);
  const blocks = text.match(/-----BEGIN [^-]*-----/g) ?? [];
  if (blocks.length !== 1) throw fail(`expected exactly one PEM block, found ${blocks.length}`);
  const m = /^\s*-----BEGIN ([A-Z0-9 ]+)-----\r?\n([A-Za-z0-9+/=\r\n]*?)\r?\n?-----END ([A-Z0-9 ]+)-----\s*$/.exec(text);
  if (!m) throw fail('not a single well-formed block (text or garbage around it?)');
  if (m[1] !== label || m[3] !== label) throw fail(`labelled ${m[1]}/${m[3]}`);
  const b64 = m[2]!.replace(/\r?\n/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64) || b64.length % 4 !== 0 || b64.length === 0) throw fail('invalid base64');
  const der = Buffer.from(b64, 'base64');
  if (der.toString('base64') !== b64) throw fail('non-canonical base64');
  const bytes = Uint8Array.from(der);
  try {
    readSingleTlv(bytes); // one complete DER value, no trailing bytes
  } catch (e) {
    throw fail((e as Error).message);
  }
  return bytes;
}
