/**
 * What the CA publishes for an offline authority: the root's CRL (made by the root-crl ceremony) and the root's
 * certificate, at the URLs the issuing CA's certificate names (CRL distribution point, AIA caIssuers). The operator
 * drops the ceremony's output where the config points; each request reads the file, so a new root CRL is served
 * without a restart. PEM or DER on disk, DER on the wire (RFC 5280 §4.2.1.13, §4.2.2.1).
 */
import { readFile } from 'node:fs/promises';
import { fromPem } from '../x509/index.ts';

export type PublishedFiles = (path: string) => Promise<Uint8Array | undefined>;

export function publishedFiles(map: Readonly<Record<string, string>>): PublishedFiles {
  return async (path) => {
    const file = map[path];
    if (file === undefined) return undefined;
    const bytes = await readFile(file);
    const label = path.endsWith('.crl') ? 'X509 CRL' : 'CERTIFICATE';
    // PEM starts with "-----"; DER with a SEQUENCE tag.
    return bytes[0] === 0x2d ? fromPem(bytes.toString('latin1'), label) : new Uint8Array(bytes);
  };
}
