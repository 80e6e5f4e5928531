import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

describe('test environment', () => {
  it('points SoftHSM2 at a per-run token directory', () => {
    expect(process.env.SOFTHSM2_CONF).toMatch(/strongroom-test-/);
    expect(existsSync(process.env.SOFTHSM2_CONF!)).toBe(true);
  });
});
