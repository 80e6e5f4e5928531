// Profiles: every shipped profile loads with the properties the issue asks for; bad profiles are refused naming
// the file and the field.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { ruleSetText } from '../../ca/policy/index.ts';
import { CA_MAX_VALIDITY_DAYS, LEAF_MAX_VALIDITY_DAYS, loadProfiles, ProfileError, type Profile, type ProfileIssue } from '../../ca/profiles/index.ts';
import { tempDir } from '../x509/openssl.ts';

const SHIPPED = join(import.meta.dirname, '../../profiles');
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

describe('the shipped profiles', () => {
  const profiles = loadProfiles(SHIPPED);
  const get = (name: string): Profile => {
    const p = profiles.get(name);
    if (!p) throw new Error(`no profile ${name}`);
    return p;
  };

  it('are exactly the six the issue names', () => {
    expect([...profiles.keys()].sort()).toEqual(['code-signing', 'issuing-ca', 'ocsp-signer', 'tls-client', 'tls-server', 'tsa']);
    for (const [name, p] of profiles) expect(p.file).toBe(join(SHIPPED, `${name}.yaml`));
  });

  it('tls-server: serverAuth; keyEncipherment for RSA only; wildcards; SAN required', () => {
    const p = get('tls-server');
    expect(p.extKeyUsage).toEqual({ purposes: ['serverAuth'], critical: false });
    expect(p.keyUsage).toEqual({ ec: ['digitalSignature'], rsa: ['digitalSignature', 'keyEncipherment'] });
    expect(p.basicConstraints).toEqual({ ca: false });
    expect(p.san).toMatchObject({ required: true, wildcards: true });
    expect(ruleSetText(p.san.rules).dns).toContain('*.dev.internal');
    expect(p.subject).toEqual({ fixed: { O: 'Strongroom' }, commonName: 'from-san' });
    expect(p.validity.maxDays).toBeLessThanOrEqual(LEAF_MAX_VALIDITY_DAYS);
  });

  it('tls-client: clientAuth, no wildcards, no keyEncipherment', () => {
    const p = get('tls-client');
    expect(p.extKeyUsage?.purposes).toEqual(['clientAuth']);
    expect(p.keyUsage.rsa).toEqual(['digitalSignature']);
    expect(p.san.wildcards).toBe(false);
  });

  it('code-signing: codeSigning, RSA ≥ 3072, no CN', () => {
    const p = get('code-signing');
    expect(p.extKeyUsage?.purposes).toEqual(['codeSigning']);
    expect(p.keyTypes).not.toContain('rsa-2048');
    expect(p.subject.commonName).toBe('none');
  });

  it('ocsp-signer: OCSPSigning alone, ocsp-nocheck, no SAN rules', () => {
    const p = get('ocsp-signer');
    expect(p.extKeyUsage).toEqual({ purposes: ['OCSPSigning'], critical: false });
    expect(p.extensions.ocspNoCheck).toBe(true);
    expect(ruleSetText(p.san.rules)).toEqual({ dns: [], ip: [], uri: [], email: [] });
  });

  it('tsa: timeStamping alone and critical (RFC 3161)', () => {
    expect(get('tsa').extKeyUsage).toEqual({ purposes: ['timeStamping'], critical: true });
  });

  it('issuing-ca: CA:TRUE pathLen 0, keyCertSign + cRLSign, ≤ 10 years, CN from the ceremony', () => {
    const p = get('issuing-ca');
    expect(p.basicConstraints).toEqual({ ca: true, pathLen: 0 });
    expect(p.keyUsage).toEqual({ ec: ['keyCertSign', 'cRLSign'], rsa: ['keyCertSign', 'cRLSign'] });
    expect(p.extKeyUsage).toBeUndefined();
    expect(p.validity.maxDays).toBeLessThanOrEqual(CA_MAX_VALIDITY_DAYS);
    expect(p.subject.commonName).toBe('from-request');
  });
});

// Bad profiles: each case takes a shipped profile, breaks one thing, and expects the file and field in the error.
type Doc = Record<string, unknown>;
const shipped = (name: string): Doc => parse(readFileSync(join(SHIPPED, `${name}.yaml`), 'utf8')) as Doc;

/** The ProfileError, with the temporary directory written as DIR for stable assertions. */
interface Refusal {
  message: string;
  file: string;
  field: string;
  issues: ProfileIssue[];
}

function refusal(files: Record<string, string>): Refusal {
  const dir = tempDir('profiles');
  dirs.push(dir);
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  try {
    loadProfiles(dir);
  } catch (e) {
    if (!(e instanceof ProfileError)) throw e;
    const stable = (s: string) => s.replaceAll(dir, 'DIR');
    return { message: stable(e.message), file: stable(e.file), field: e.field, issues: e.issues.map((i) => ({ ...i, file: stable(i.file) })) };
  }
  throw new Error('the profile was accepted');
}

function broken(base: string, edit: (d: Doc) => void): Refusal {
  const doc = shipped(base);
  edit(doc);
  return refusal({ [`${base}.yaml`]: stringify(doc) });
}

const at = (d: Doc, path: string): Doc => path.split('.').reduce((o, k) => o[k] as Doc, d);

describe('bad profiles are refused, naming the file and the field', () => {
  it.each<[string, string, (d: Doc) => void, string, RegExp]>([
    ['unknown top-level key', 'tls-server', (d) => (d.colour = 'red'), 'colour', /unknown key/],
    ['misspelled nested key', 'tls-server', (d) => (at(d, 'san').dsn = at(d, 'san').dns), 'san.dsn', /unknown key/],
    ['CN among the fixed attributes', 'tls-server', (d) => (at(d, 'subject.fixed').CN = 'x'), 'subject.fixed.CN', /unknown key/],
    ['missing field', 'tls-server', (d) => delete d.description, 'description', /required field is missing/],
    ['wrong type', 'tls-server', (d) => (at(d, 'validity')['max-days'] = '397'), 'validity.max-days', /expected number/],
    ['not an integer', 'tls-server', (d) => (at(d, 'validity')['max-days'] = 39.5), 'validity.max-days', /int/],
    ['bad CIDR: host bits', 'tls-server', (d) => ((at(d, 'san.ip').allowed as string[])[1] = '172.16.0.1/12'), 'san.ip.allowed[1]', /host bits/],
    ['bad CIDR: prefix', 'tls-server', (d) => ((at(d, 'san.ip').allowed as string[])[0] = '10.0.0.0/33'), 'san.ip.allowed[0]', /longer than the 32-bit/],
    ['bad CIDR: not an address', 'tls-server', (d) => ((at(d, 'san.ip').allowed as string[])[4] = 'fd00::g/8'), 'san.ip.allowed[4]', /not an IPv4 or IPv6/],
    ['"*" in the middle of a pattern', 'tls-server', (d) => ((at(d, 'san.dns').allowed as string[])[2] = 'a.*.internal'), 'san.dns.allowed[2]', /leftmost/],
    ['partial wildcard pattern', 'tls-server', (d) => ((at(d, 'san.dns').allowed as string[])[0] = 'f*.internal'), 'san.dns.allowed[0]', /partial-label/],
    ['URI rule without scheme', 'tls-client', (d) => ((at(d, 'san.uri').allowed as string[])[0] = 'strongroom.internal/'), 'san.uri.allowed[0]', /no scheme/],
    ['email rule', 'code-signing', (d) => ((at(d, 'san.email').allowed as string[])[0] = 'strongroom.internal.'), 'san.email.allowed[0]', /trailing dot/],
    ['empty rule list', 'tls-server', (d) => (at(d, 'san.ip').allowed = []), 'san.ip.allowed', /at least one rule/],
    ['TLS validity beyond 825 days', 'tls-server', (d) => (at(d, 'validity')['max-days'] = 826), 'validity.max-days', /826 days is beyond the leaf limit of 825/],
    ['leaf validity beyond 825 days', 'tsa', (d) => (at(d, 'validity')['max-days'] = 1000), 'validity.max-days', /leaf limit of 825/],
    ['CA validity beyond 10 years', 'issuing-ca', (d) => (at(d, 'validity')['max-days'] = 3654), 'validity.max-days', /CA limit of 3653/],
    ['default beyond max', 'tls-server', (d) => (at(d, 'validity')['default-days'] = 398), 'validity.default-days', /more than max-days/],
    ['zero days', 'tls-server', (d) => (at(d, 'validity')['max-days'] = 0), 'validity.max-days', />=1/],
    ['unknown key type', 'tls-server', (d) => ((d['key-types'] as string[])[2] = 'rsa-1024'), 'key-types[2]', /Invalid option/],
    ['duplicate key type', 'tls-server', (d) => (d['key-types'] = ['ec-p256', 'ec-p256']), 'key-types[1]', /duplicate key type/],
    ['keyEncipherment for EC', 'tls-server', (d) => (at(d, 'key-usage').ec = ['digitalSignature', 'keyEncipherment']), 'key-usage.ec', /EC signing key does not encrypt/],
    ['keyAgreement for RSA', 'tls-server', (d) => (at(d, 'key-usage').rsa = ['digitalSignature', 'keyAgreement']), 'key-usage.rsa', /RSA key does not do key agreement/],
    ['keyEncipherment without serverAuth', 'tls-client', (d) => (at(d, 'key-usage').rsa = ['digitalSignature', 'keyEncipherment']), 'key-usage.rsa', /TLS servers only/],
    ['keyCertSign in a leaf', 'tls-server', (d) => (at(d, 'key-usage').ec = ['digitalSignature', 'keyCertSign']), 'key-usage.ec', /only in CA profiles/],
    ['unknown key usage', 'tls-server', (d) => (at(d, 'key-usage').ec = ['digitalSignature', 'encipherOnly']), 'key-usage.ec[1]', /Invalid option/],
    ['key usage for a family the profile does not allow', 'tls-server', (d) => (d['key-types'] = ['ec-p256']), 'key-usage.rsa', /allows no RSA keys/],
    ['key usage missing for an allowed family', 'tls-server', (d) => delete at(d, 'key-usage').rsa, 'key-usage.rsa', /required: key-types allows RSA/],
    ['CA without cRLSign', 'issuing-ca', (d) => (at(d, 'key-usage').ec = ['keyCertSign']), 'key-usage.ec', /needs cRLSign/],
    ['leaf without EKU', 'tls-server', (d) => delete d['ext-key-usage'], 'ext-key-usage', /names its extended key usages/],
    ['unknown EKU', 'tls-server', (d) => (at(d, 'ext-key-usage').purposes = ['serverAuth', 'anyExtendedKeyUsage']), 'ext-key-usage.purposes[1]', /Invalid option/],
    ['duplicate EKU', 'tls-server', (d) => (at(d, 'ext-key-usage').purposes = ['serverAuth', 'serverAuth']), 'ext-key-usage.purposes[1]', /duplicate purpose/],
    ['timeStamping not critical', 'tsa', (d) => (at(d, 'ext-key-usage').critical = false), 'ext-key-usage', /only purpose and critical \(RFC 3161/],
    ['timeStamping with another purpose', 'tsa', (d) => (at(d, 'ext-key-usage').purposes = ['timeStamping', 'codeSigning']), 'ext-key-usage', /only purpose/],
    ['OCSPSigning with another purpose', 'ocsp-signer', (d) => (at(d, 'ext-key-usage').purposes = ['OCSPSigning', 'clientAuth']), 'ext-key-usage.purposes', /only purpose/],
    ['ocsp-no-check outside an OCSP profile', 'tls-server', (d) => (d.extensions = { 'ocsp-no-check': true }), 'extensions.ocsp-no-check', /only for OCSP responder/],
    ['path-len on a leaf', 'tls-server', (d) => (at(d, 'basic-constraints')['path-len'] = 0), 'basic-constraints.path-len', /only with ca: true/],
    ['CA without path-len', 'issuing-ca', (d) => delete at(d, 'basic-constraints')['path-len'], 'basic-constraints.path-len', /states its path length/],
    ['CN from the request in a leaf', 'tls-server', (d) => (at(d, 'subject')['common-name'] = 'from-request'), 'subject.common-name', /CA profiles/],
    ['unencodable country', 'tls-server', (d) => (at(d, 'subject.fixed').C = 'Germany'), 'subject.fixed', /C="Germany"/],
    ['no name at all possible', 'ocsp-signer', (d) => (at(d, 'subject').fixed = {}), 'subject.fixed', /no name at all/],
    ['wildcards without a wildcard pattern', 'tls-client', (d) => void Object.assign(at(d, 'san.dns'), { allowed: ['a.svc.internal'], wildcards: true }), 'san.dns.wildcards', /no "\*\." pattern/],
    ['SAN required but no type allowed', 'tls-server', (d) => (d.san = { required: true }), 'san.required', /no SAN type is allowed/],
    ['name differs from the file', 'tls-server', (d) => (d.name = 'tls-servers'), 'name', /must match the file name/],
    ['bad name', 'tls-server', (d) => (d.name = 'TLS Server'), 'name', /lowercase/],
  ])('%s', (_what, base, edit, field, message) => {
    const e = broken(base, edit);
    const issue = e.issues.find((i) => i.field === field);
    expect(issue, `issues: ${e.message}`).toBeDefined();
    expect(issue!.file).toBe(`DIR/${base}.yaml`);
    expect(issue!.message).toMatch(message);
    expect(e.message).toContain(`DIR/${base}.yaml: ${field}: `);
  });

  it('the message reads "<file>: <field>: <why>"', () => {
    const e = broken('tls-server', (d) => ((at(d, 'san.dns').allowed as string[])[2] = 'a.*.internal'));
    expect(e.message).toBe('DIR/tls-server.yaml: san.dns.allowed[2]: wildcard not in the leftmost label');
    expect(e.file).toBe('DIR/tls-server.yaml');
    expect(e.field).toBe('san.dns.allowed[2]');
  });

  it('a key given twice is refused (YAML)', () => {
    const e = refusal({ 'tsa.yaml': `${readFileSync(join(SHIPPED, 'tsa.yaml'), 'utf8')}\ndescription: again\n` });
    expect(e.issues[0]).toMatchObject({ file: 'DIR/tsa.yaml', field: '(yaml)' });
  });

  it('YAML syntax errors name the file', () => {
    expect(refusal({ 'tsa.yaml': 'name: [tsa\n' }).issues[0]).toMatchObject({ file: 'DIR/tsa.yaml', field: '(yaml)' });
    expect(refusal({ 'tsa.yaml': '- a\n- b\n' }).issues[0]).toMatchObject({ file: 'DIR/tsa.yaml', field: '(top level)' });
    expect(refusal({ 'tsa.yaml': '' }).issues[0]).toMatchObject({ file: 'DIR/tsa.yaml', field: '(top level)' });
  });

  it('every bad file is reported, not only the first', () => {
    const a = shipped('tls-server');
    a.colour = 'red';
    const b = shipped('tsa');
    at(b, 'ext-key-usage').critical = false;
    const e = refusal({ 'tls-server.yaml': stringify(a), 'tsa.yaml': stringify(b), 'tls-client.yaml': readFileSync(join(SHIPPED, 'tls-client.yaml'), 'utf8') });
    expect(e.issues.map((i) => `${i.file} ${i.field}`)).toEqual(['DIR/tls-server.yaml colour', 'DIR/tsa.yaml ext-key-usage']);
  });

  it('a .yml file is refused rather than skipped; other files are ignored', () => {
    const e = refusal({ 'tsa.yml': readFileSync(join(SHIPPED, 'tsa.yaml'), 'utf8'), 'README.md': '# notes' });
    expect(e.issues).toEqual([{ file: 'DIR/tsa.yml', field: '(file)', message: expect.stringMatching(/\.yaml extension/) }]);
  });

  it('a directory without profiles, or no directory, is refused', () => {
    expect(refusal({ 'README.md': '# nothing' }).issues[0]).toMatchObject({ field: '(directory)', message: /no profiles/ });
    const dir = tempDir('profiles');
    dirs.push(dir);
    expect(() => loadProfiles(join(dir, 'missing'))).toThrow(ProfileError);
  });

  it('a good copy loads (the fixtures above break only what they mean to)', () => {
    const dir = tempDir('profiles');
    dirs.push(dir);
    mkdirSync(join(dir, 'p'));
    for (const name of ['tls-server', 'tls-client', 'code-signing', 'ocsp-signer', 'tsa', 'issuing-ca']) {
      writeFileSync(join(dir, 'p', `${name}.yaml`), stringify(shipped(name)));
    }
    expect(loadProfiles(join(dir, 'p')).size).toBe(6);
  });
});
