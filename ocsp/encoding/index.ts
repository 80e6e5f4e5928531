/** The OCSP wire format: request parsing, response encoding, unsuccessful responses, issuer hashes. */
export { OcspEncodingError, OcspMalformed } from './errors.ts';
export { MAX_CERT_IDS, MAX_NONCE_OCTETS, MAX_SERIAL_OCTETS, MIN_NONCE_OCTETS, parseOcspRequest, type CertIdHash, type OcspCertId, type ParsedOcspRequest } from './request.ts';
export {
  REVOCATION_REASON_CODES,
  ResponseEncoder,
  type CertStatus,
  type ResponderIdentity,
  type RevocationReasonName,
  type SingleResponseInput,
} from './response.ts';
export { OCSP_INTERNAL_ERROR, OCSP_MALFORMED_REQUEST, OCSP_SIG_REQUIRED, OCSP_TRY_LATER, OCSP_UNAUTHORIZED } from './status-responses.ts';
export { issuerHashes, keyHashSha1, type CertIdHashes, type IssuerHashes } from './issuer-hashes.ts';
