// Where the user PIN comes from (file, environment, prompt), and that it never shows up in an error message.
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describePinSource, parsePinSource, PinSourceError, readPin, type PinSource } from '../../hsm/index.ts';

const PIN = 'Pin-7391-secret';
let dir: string;

function pinFile(name: string, content: string, mode: number): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  chmodSync(path, mode); // not subject to the umask, unlike writeFileSync's mode
  return path;
}

/** Runs fn, expects a PinSourceError, checks the PIN is not in its message, and returns the message. */
async function refusal(fn: () => unknown, secrets: string[] = [PIN]): Promise<string> {
  let err: unknown;
  try {
    await fn();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(PinSourceError);
  const message = (err as Error).message;
  for (const s of secrets) expect(message).not.toContain(s);
  return message;
}

beforeAll(() => {
  dir = mkdtempSync(join(process.env.STRONGROOM_TEST_ROOT ?? tmpdir(), 'pin-source-'));
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('parsePinSource', () => {
  const VALID: [string, PinSource][] = [
    ['file:/run/secrets/hsm-pin', { file: '/run/secrets/hsm-pin' }],
    ['file:///run/secrets/hsm-pin', { file: '/run/secrets/hsm-pin' }],
    ['/etc/strongroom/pin', { file: '/etc/strongroom/pin' }],
    ['./pin.txt', { file: './pin.txt' }],
    ['env:STRONGROOM_HSM_PIN', { env: 'STRONGROOM_HSM_PIN' }],
    ['prompt', { prompt: 'HSM user PIN: ' }],
  ];
  it.each(VALID)('%s → %j', (text, source) => {
    expect(parsePinSource(text)).toEqual(source);
  });

  // The classic mistake is to give the PIN itself where its source is asked for: the refusal must not print it.
  const GARBAGE = ['Pin-7391-secret', '483920', 'pin.txt', 'https://vault/pin', 'Prompt', 'ENV:X', ''];
  it.each(GARBAGE)('refuses %j without repeating it', async (text) => {
    const message = await refusal(() => parsePinSource(text), text === '' ? [] : [text]);
    expect(message).toMatch(/unknown pin source/);
    expect(message).toMatch(/file:\/path, env:NAME or prompt/);
  });
});

describe('describePinSource', () => {
  it.each([
    [{ file: '/run/pin' }, 'file /run/pin'],
    [{ env: 'HSM_PIN' }, 'environment variable HSM_PIN'],
    [{ prompt: 'PIN: ' }, 'prompt'],
  ] as [PinSource, string][])('%j → %s', (source, text) => {
    expect(describePinSource(source)).toBe(text);
  });
});

describe('readPin from the environment', () => {
  it('returns the variable as it is', async () => {
    expect(await readPin({ env: 'HSM_PIN' }, { HSM_PIN: PIN })).toBe(PIN);
    expect(await readPin({ env: 'HSM_PIN' }, { HSM_PIN: ` ${PIN}\n` })).toBe(` ${PIN}\n`);
  });

  it('refuses an unset variable, naming the variable', async () => {
    expect(await refusal(() => readPin({ env: 'HSM_PIN' }, { OTHER: PIN }))).toBe('environment variable HSM_PIN is not set');
  });

  it('refuses an empty variable', async () => {
    expect(await refusal(() => readPin({ env: 'HSM_PIN' }, { HSM_PIN: '' }))).toBe('empty PIN from environment variable HSM_PIN');
  });

  it('reads process.env by default', async () => {
    const name = `STRONGROOM_TEST_PIN_${process.pid}`;
    process.env[name] = PIN;
    try {
      expect(await readPin({ env: name })).toBe(PIN);
    } finally {
      delete process.env[name];
    }
    await refusal(() => readPin({ env: name }));
  });
});

describe('readPin from a file', () => {
  it.each([
    ['a trailing newline', `${PIN}\n`, PIN],
    ['a trailing CRLF', `${PIN}\r\n`, PIN],
    ['no newline', PIN, PIN],
    ['surrounding spaces (part of the PIN)', `  ${PIN}  \n`, `  ${PIN}  `],
  ])('strips %s and nothing else', async (_what, content, pin) => {
    expect(await readPin({ file: pinFile('pin-ok', content, 0o600) })).toBe(pin);
  });

  it('accepts a file readable by its group (a service group) but not by others', async () => {
    expect(await readPin({ file: pinFile('pin-group', `${PIN}\n`, 0o640) })).toBe(PIN);
  });

  it.each([0o644, 0o604, 0o666, 0o777])('refuses a world-readable file (mode %o) without reading the PIN into the message', async (mode) => {
    const path = pinFile('pin-world', `${PIN}\n`, mode);
    expect(await refusal(() => readPin({ file: path }))).toBe(`PIN file ${path} is world-readable; chmod 600 it`);
  });

  it('refuses a missing file', async () => {
    const path = join(dir, 'no-such-pin');
    expect(await refusal(() => readPin({ file: path }))).toBe(`PIN file ${path} cannot be read`);
  });

  it('refuses an empty file (or one holding only the newline)', async () => {
    const path = pinFile('pin-empty', '\n', 0o600);
    expect(await refusal(() => readPin({ file: path }))).toBe(`empty PIN from file ${path}`);
  });
});

describe('readPin by prompt', () => {
  it('refuses when stdin is not a terminal, without prompting', async () => {
    const descriptor = Object.getOwnPropertyDescriptor(process.stdin, 'isTTY');
    Object.defineProperty(process.stdin, 'isTTY', { value: false, configurable: true, writable: true });
    const written: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((chunk: string | Uint8Array) => {
      written.push(String(chunk));
      return true;
    }) as typeof process.stderr.write;
    try {
      expect(await refusal(() => readPin({ prompt: 'HSM user PIN: ' }))).toMatch(/no terminal to prompt for the PIN on/);
    } finally {
      process.stderr.write = write;
      if (descriptor) Object.defineProperty(process.stdin, 'isTTY', descriptor);
      else delete (process.stdin as { isTTY?: boolean }).isTTY;
    }
    expect(written.join('')).not.toContain('HSM user PIN');
  });
});
