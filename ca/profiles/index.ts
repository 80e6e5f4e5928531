// Certificate profiles: types, the YAML schema, the loader, and what a profile decides for one certificate.
export * from './profile.ts';
export { CA_MAX_VALIDITY_DAYS, DEFAULT_MAX_NAMES, LEAF_MAX_VALIDITY_DAYS, profileSchema, type ProfileDocument } from './profile-schema.ts';
export { fieldPath, loadProfiles, parseProfile, ProfileError, type ProfileIssue } from './load-profiles.ts';
export { decideProfileNames, keyTypeAllowed, OCSP_NOCHECK_OID, profileExtensions, profileSubject, validityDays, type ProfileExtensionInput, type ValidityDecision } from './apply-profile.ts';
