import { AsnConvert } from '@peculiar/asn1-schema';
import { CertificateList, id_ce_cRLNumber } from '@peculiar/asn1-x509';
import { call, type TestCa } from './fixture.ts';

/** The cRLNumber of a DER CRL. */
export function crlNumberOf(der: Uint8Array): bigint {
  const crl = AsnConvert.parse(der, CertificateList);
  const ext = crl.tbsCertList.crlExtensions?.find((e) => e.extnID === id_ce_cRLNumber);
  if (!ext) throw new Error('CRL without cRLNumber');
  const v = new Uint8Array(ext.extnValue.buffer);
  // INTEGER: 02 len content
  return BigInt(`0x${Buffer.from(v.subarray(2, 2 + v[1]!)).toString('hex')}`);
}

/** Revoked serials (lowercase hex, no leading zeros) of a DER CRL. */
export function revokedSerials(der: Uint8Array): string[] {
  const crl = AsnConvert.parse(der, CertificateList);
  return (crl.tbsCertList.revokedCertificates ?? []).map((r) => BigInt(`0x${Buffer.from(r.userCertificate).toString('hex')}`).toString(16));
}

/** Polls the served CRL until its number is at least `n`; returns its DER. */
export async function waitForCrl(t: TestCa, n: bigint, caName = 'issuing-ca', timeoutMs = 15_000): Promise<Buffer> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const r = await call<Buffer>(`${t.url}/crl/${caName}.crl`);
    if (r.status === 200 && crlNumberOf(r.body) >= n) return r.body;
    if (performance.now() > deadline) throw new Error(`no CRL number ${n} for ${caName} within ${timeoutMs} ms (last status ${r.status})`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
