import type { Profile } from '../profiles/index.ts';

/** Leaf profiles only: CA profiles (issuing-ca) belong to ceremonies and are never issued online nor granted. */
export function leafProfiles(all: ReadonlyMap<string, Profile>): Map<string, Profile> {
  return new Map([...all].filter(([, p]) => !p.basicConstraints.ca));
}
