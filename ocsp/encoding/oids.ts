/** OID contents octets (no tag, no length) for the byte comparisons and templates of the OCSP encoding. */
import { fromHex } from './der-writer.ts';

export const OID_SHA1 = fromHex('2b0e03021a'); // 1.3.14.3.2.26
export const OID_SHA256 = fromHex('608648016503040201'); // 2.16.840.1.101.3.4.2.1
export const OID_OCSP_BASIC = fromHex('2b0601050507300101'); // 1.3.6.1.5.5.7.48.1.1
export const OID_OCSP_NONCE = fromHex('2b0601050507300102'); // 1.3.6.1.5.5.7.48.1.2
export const OID_OCSP_ACCEPTABLE_RESPONSES = fromHex('2b0601050507300104'); // 1.3.6.1.5.5.7.48.1.4
