// Prints the micro-measurement (measure.ts); nothing is asserted about time.
import { expect, it } from 'vitest';
import { measure } from './measure.ts';

it('prints parse and encode µs, ours vs @peculiar/asn1-ocsp (under vitest: see measure.ts)', () => {
  const report = measure(150);
  console.log(report);
  expect(report).toContain('parse a request');
});
