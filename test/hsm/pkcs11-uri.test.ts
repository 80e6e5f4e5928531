// PKCS#11 URIs (RFC 7512) as Strongroom names tokens and keys: what parses, what is refused, and format ∘ parse.
import { describe, expect, it } from 'vitest';
import { formatPkcs11Uri, parsePkcs11Uri, Pkcs11UriError, type Pkcs11Uri } from '../../hsm/index.ts';

describe('parsePkcs11Uri accepts', () => {
  const VALID: [string, string, Pkcs11Uri][] = [
    ['a token', 'pkcs11:token=strongroom', { token: 'strongroom' }],
    ['token and object', 'pkcs11:token=strongroom;object=issuing-ca', { token: 'strongroom', object: 'issuing-ca' }],
    ['percent-encoded text', 'pkcs11:token=Strongroom%20Dev;object=cl%C3%A9%3Bx', { token: 'Strongroom Dev', object: 'clé;x' }],
    ['id as percent-encoded bytes', 'pkcs11:id=%01%02%ab%FF', { id: '0102abff' }],
    ['id mixing literal and encoded bytes', 'pkcs11:id=AB%00', { id: '414200' }],
    ['a serial', 'pkcs11:serial=4a1c9be3f0d2e7a1', { serial: '4a1c9be3f0d2e7a1' }],
    ['type=private', 'pkcs11:object=k;type=private', { object: 'k', type: 'private' }],
    ['type=public', 'pkcs11:type=public', { type: 'public' }],
    ['type=cert', 'pkcs11:type=cert', { type: 'cert' }],
    ['type=secret-key', 'pkcs11:type=secret-key', { type: 'secret-key' }],
    ['type=data', 'pkcs11:type=data', { type: 'data' }],
    ['a pin-source query', 'pkcs11:token=t?pin-source=file:/run/secrets/hsm-pin', { token: 't', pinSource: 'file:/run/secrets/hsm-pin' }],
    ['an encoded pin-source and a module-path', 'pkcs11:token=t?pin-source=env%3AHSM_PIN&module-path=/usr/lib/softhsm/libsofthsm2.so', { token: 't', pinSource: 'env:HSM_PIN', modulePath: '/usr/lib/softhsm/libsofthsm2.so' }],
    ['attributes it recognises but does not select by', 'pkcs11:manufacturer=SoftHSM%20project;model=SoftHSM%20v2;slot-id=3;token=t?module-name=softhsm2', { token: 't' }],
    ['a value holding "="', 'pkcs11:object=a=b', { object: 'a=b' }],
    ['the empty URI (matches everything)', 'pkcs11:', {}],
  ];
  it.each(VALID)('%s: %s', (_what, text, want) => {
    expect(parsePkcs11Uri(text)).toEqual(want);
  });
});

describe('parsePkcs11Uri refuses', () => {
  const INVALID: [string, string, RegExp][] = [
    ['no scheme', 'token=strongroom;object=k', /starts with "pkcs11:"/],
    ['another scheme', 'pkcs12:token=t', /starts with "pkcs11:"/],
    ['a pin-value query', 'pkcs11:token=t?pin-value=483920', /pin-value is not accepted/],
    ['a pin-value in the path', 'pkcs11:token=t;pin-value=483920', /pin-value is not accepted/],
    ['an unknown path attribute', 'pkcs11:token=t;colour=blue', /unknown path attribute "colour"/],
    ['a path attribute in the query', 'pkcs11:object=k?token=t', /unknown query attribute "token"/],
    ['a query attribute in the path', 'pkcs11:pin-source=file:/x', /unknown path attribute "pin-source"/],
    ['a duplicate attribute', 'pkcs11:token=a;object=k;token=b', /"token" given twice/],
    ['a duplicate query attribute', 'pkcs11:token=a?pin-source=/a&pin-source=/b', /"pin-source" given twice/],
    ['bad percent-encoding (not hex)', 'pkcs11:object=%zz', /bad percent-encoding in "object"/],
    ['bad percent-encoding (truncated UTF-8)', 'pkcs11:token=%E0%A4%A', /bad percent-encoding in "token"/],
    ['bad percent-encoding in id (one digit)', 'pkcs11:id=%0', /bad percent-encoding in "id"/],
    ['bad percent-encoding in id (not hex)', 'pkcs11:id=%G1', /bad percent-encoding in "id"/],
    ['a non-ASCII character in id (not a byte)', 'pkcs11:id=%01€', /bad character in "id"/],
    ['an unknown type', 'pkcs11:type=secret', /unknown type "secret"/],
    ['an attribute without a value', 'pkcs11:token', /malformed attribute "token"/],
    ['a value without an attribute', 'pkcs11:=x', /malformed attribute "=x"/],
    ['an empty attribute', 'pkcs11:token=a;;object=b', /malformed attribute ""/],
  ];
  it.each(INVALID)('%s: %s', (_what, text, message) => {
    let err: unknown;
    try {
      parsePkcs11Uri(text);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(Pkcs11UriError);
    expect((err as Error).name).toBe('Pkcs11UriError');
    expect((err as Error).message).toMatch(message);
  });

  it('never repeats a PIN given as pin-value in its message', () => {
    expect(() => parsePkcs11Uri('pkcs11:token=t?pin-value=483920')).toThrow(expect.objectContaining({ message: expect.not.stringContaining('483920') }));
  });
});

describe('formatPkcs11Uri', () => {
  it('writes RFC 7512 text: path attributes in a fixed order, id as percent-encoded bytes, query last', () => {
    expect(formatPkcs11Uri({ type: 'private', id: '0aff', object: 'issuing ca', token: 'strongroom' })).toBe('pkcs11:token=strongroom;object=issuing%20ca;id=%0a%ff;type=private');
    expect(formatPkcs11Uri({ token: 't', pinSource: 'file:/run/pin', modulePath: '/usr/lib/x.so' })).toBe('pkcs11:token=t?pin-source=file%3A%2Frun%2Fpin&module-path=%2Fusr%2Flib%2Fx.so');
    expect(formatPkcs11Uri({})).toBe('pkcs11:');
  });

  const URIS: Pkcs11Uri[] = [
    { token: 'strongroom', object: 'issuing-ca', id: '8f14e45fceea167a5a36dedd4bea2543', type: 'private' },
    { serial: '4a1c9be3f0d2e7a1', object: 'ocsp-signer', type: 'public' },
    // Every character that means something in a PKCS#11 URI, and some that encodeURIComponent leaves alone.
    { token: 'a;b=c?d&e%f/g', object: "it's (1)* ok!~", type: 'cert' },
    { token: 'Strongroom Dev', object: 'clé 🔑' },
    { id: '00' },
    { id: '000102fdfeff' },
    { token: 't', pinSource: 'file:/run/secrets/hsm pin', modulePath: '/usr/lib/softhsm/libsofthsm2.so' },
    { type: 'secret-key' },
    {},
  ];
  it.each(URIS)('parse(format(%j)) gives it back', (uri) => {
    const text = formatPkcs11Uri(uri);
    expect(text.startsWith('pkcs11:')).toBe(true);
    expect(parsePkcs11Uri(text)).toEqual(uri);
    // ... and the text is canonical: formatting what was parsed writes the same text.
    expect(formatPkcs11Uri(parsePkcs11Uri(text))).toBe(text);
  });

  it('round-trips 100 random ids', () => {
    for (let i = 0; i < 100; i++) {
      const id = Buffer.from(Array.from({ length: 1 + (i % 32) }, () => Math.floor(Math.random() * 256))).toString('hex');
      expect(parsePkcs11Uri(formatPkcs11Uri({ id })).id).toBe(id);
    }
  });
});
