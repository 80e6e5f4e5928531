// CSR intake: parse, verify, check the key. Policy (profiles, grants, name rules) comes after, elsewhere.
export { CsrError, type CsrErrorCode } from './errors.ts';
export { parseCsr, type ParseCsrOptions, type ParsedCsr } from './parse.ts';
export { checkKeyNotBlocked, type KeyBlockLookups } from './blocked.ts';
export { CSR_MAX_BYTES } from './input.ts';
export { DEFAULT_MAX_DEPTH, DEFAULT_MAX_ELEMENTS } from './der.ts';
export { MAX_SUBJECT_ATTRIBUTES } from './names.ts';
export { RSA_MAX_BITS, RSA_MIN_BITS, type CsrKeyType, type CsrPublicKey } from './public-key.ts';
export type { CsrSignatureAlgorithm } from './signature.ts';
export type { RequestedNames, SubjectAttribute } from './names.ts';
export { KNOWN_EXTENSIONS, MAX_EXTENSIONS, MAX_OTHER_EXTENSION_ELEMENTS, type RequestedExtension } from './extensions.ts';
