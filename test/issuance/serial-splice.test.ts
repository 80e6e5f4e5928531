// Lint once: the TBS that is signed is the linted draft with its serial spliced in, byte for byte what encoding the
// spec again would give; a TBS that differs from the linted draft anywhere but the serial is refused, and so is a
// serial that breaks the serial rules the draft's lint did not see.
import { randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { assertOnlySerialDiffers, withSerial } from '../../ca/issuance/serial-splice.ts';
import { basicConstraints, buildName, buildTbsCertificate, issueCertificate, newSerial, serialFromBigint, serialFromHex, X509Error, type Serial, type TbsCertificateSpec } from '../../ca/x509/index.ts';
import { SoftwareSigner } from '../support/software-signer.ts';
import { intermediateSpec, rootLint, rootSpec } from '../x509/fixtures.ts';

let spec: TbsCertificateSpec;
let linted: Uint8Array;
const placeholder: Serial = serialFromHex('7f' + '5a'.repeat(15));

beforeAll(async () => {
  const root = SoftwareSigner.generate('ec-p256');
  const rootCert = await issueCertificate(await rootSpec(root), root, rootLint);
  spec = { ...(await intermediateSpec(rootCert.der, root, SoftwareSigner.generate('ec-p256').spki)), serial: placeholder };
  linted = buildTbsCertificate(spec).der;
});

const refused = (tbs: Uint8Array, serial: Serial) => {
  try {
    assertOnlySerialDiffers(linted, tbs, serial);
  } catch (e) {
    expect(e).toBeInstanceOf(X509Error);
    expect((e as X509Error).kind).toBe('lint');
    return (e as Error).message;
  }
  throw new Error('expected the TBS to be refused');
};

describe('withSerial', () => {
  it('gives exactly the DER that building the spec with that serial gives, for serials of every length', async () => {
    const serials = [
      ...(await Promise.all(Array.from({ length: 50 }, () => newSerial((n) => randomBytes(n))))),
      serialFromHex('ff' + '01'.repeat(18)), // top bit set: a 0x00 sign octet, 20 content octets (the most allowed)
      serialFromHex('1'.padEnd(16, '0')), // 8 octets, the shortest allowed
    ];
    for (const serial of serials) {
      const tbs = withSerial(linted, serial);
      expect(Buffer.from(tbs).equals(Buffer.from(buildTbsCertificate({ ...spec, serial }).der))).toBe(true);
    }
  });
});

describe('assertOnlySerialDiffers', () => {
  it('accepts the linted draft with a new serial', async () => {
    const serial = await newSerial((n) => randomBytes(n));
    expect(() => assertOnlySerialDiffers(linted, withSerial(linted, serial), serial)).not.toThrow();
    expect(() => assertOnlySerialDiffers(linted, buildTbsCertificate({ ...spec, serial }).der, serial)).not.toThrow();
  });

  it('refuses a TBS that differs anywhere else: validity, subject, key, extensions', async () => {
    const serial = await newSerial((n) => randomBytes(n));
    const other = (change: Partial<TbsCertificateSpec>) => buildTbsCertificate({ ...spec, ...change, serial }).der;
    expect(refused(other({ notAfter: new Date(spec.notAfter.getTime() + 1000) }), serial)).toMatch(/field \d differs/);
    expect(refused(other({ subject: buildName({ O: 'Someone Else' }) }), serial)).toMatch(/field \d differs/);
    expect(refused(other({ spki: SoftwareSigner.generate('ec-p256').spki }), serial)).toMatch(/field \d differs/);
    expect(refused(other({ extensions: [...spec.extensions, basicConstraints({ ca: true })] }), serial)).toMatch(/field \d differs/);
    expect(refused(other({ extensions: [] }), serial)).toMatch(/another set of fields|field \d differs/);
  });

  it('refuses a serial other than the one stated, a serial that breaks the rules, and bytes that are not a TBS', async () => {
    const serial = await newSerial((n) => randomBytes(n));
    const another = await newSerial((n) => randomBytes(n));
    expect(refused(withSerial(linted, another), serial)).toMatch(/another serial/);
    const short = serialFromBigint(0x1234n);
    expect(refused(withSerial(linted, short), short)).toMatch(/serial-low-entropy/);
    const long: Serial = { bytes: Uint8Array.from([0x01, ...new Array<number>(20).fill(0x22)]), hex: '1' + '22'.repeat(20) };
    expect(refused(withSerial(linted, long), long)).toMatch(/serial-too-long/);
    const tbs = withSerial(linted, serial);
    expect(refused(Uint8Array.from([...tbs, 0]), serial)).toMatch(/after the DER value/);
    expect(refused(tbs.subarray(0, tbs.length - 1), serial)).toMatch(/truncated/);
  });
});
