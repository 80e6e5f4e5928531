// Fresh SoftHSM2 tokens for tests: each suite gets its own label in the per-run token directory.
import { randomBytes } from 'node:crypto';
import { initSoftToken, SOFTHSM_MODULE } from '../../hsm/soft-token.ts';

export interface TestToken {
  module: string;
  label: string;
  serial: string;
  pin: string;
  soPin: string;
}

export function createTestToken(prefix: string, module = SOFTHSM_MODULE): TestToken {
  const label = `${prefix}-${randomBytes(4).toString('hex')}`.slice(0, 32);
  const pin = randomBytes(6).toString('hex');
  const soPin = randomBytes(6).toString('hex');
  const serial = initSoftToken({ module: SOFTHSM_MODULE, label, soPin, userPin: pin });
  return { module, label, serial, pin, soPin };
}
