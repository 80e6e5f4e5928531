/**
 * Where the token's user PIN comes from: a file, an environment variable, or a no-echo prompt. Never argv, never a
 * log line: the PIN is returned to the caller and nowhere else.
 */
import { readFileSync, statSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';

export type PinSource = { file: string } | { env: string } | { prompt: string };

export class PinSourceError extends Error {
  override readonly name = 'PinSourceError';
}

/** RFC 7512 pin-source values (`file:/path` or a bare path), plus `env:NAME` and `prompt`. */
export function parsePinSource(text: string): PinSource {
  if (text === 'prompt') return { prompt: 'HSM user PIN: ' };
  if (text.startsWith('env:')) return { env: text.slice(4) };
  if (text.startsWith('file:')) return { file: text.slice(5).replace(/^\/\/(?=\/)/, '') };
  if (text.startsWith('/') || text.startsWith('.')) return { file: text };
  // Not echoed: what was given here is all too often the PIN itself.
  throw new PinSourceError('unknown pin source: use file:/path, env:NAME or prompt');
}

export function describePinSource(source: PinSource): string {
  if ('file' in source) return `file ${source.file}`;
  if ('env' in source) return `environment variable ${source.env}`;
  return 'prompt';
}

export async function readPin(source: PinSource, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  let pin: string;
  if ('file' in source) {
    let mode: number;
    try {
      mode = statSync(source.file).mode;
    } catch {
      throw new PinSourceError(`PIN file ${source.file} cannot be read`);
    }
    // A PIN anyone on the machine can read is no secret.
    if (mode & 0o004) throw new PinSourceError(`PIN file ${source.file} is world-readable; chmod 600 it`);
    pin = readFileSync(source.file, 'utf8').replace(/\r?\n$/, '');
  } else if ('env' in source) {
    const value = env[source.env];
    if (value === undefined) throw new PinSourceError(`environment variable ${source.env} is not set`);
    pin = value;
  } else {
    pin = await promptHidden(source.prompt);
  }
  if (pin.length === 0) throw new PinSourceError(`empty PIN from ${describePinSource(source)}`);
  return pin;
}

/** Reads a line from the terminal without echoing it. Refuses when stdin is not a terminal. */
export async function promptHidden(question: string): Promise<string> {
  if (!process.stdin.isTTY) throw new PinSourceError('no terminal to prompt for the PIN on; give it by file or environment');
  process.stderr.write(question);
  const muted = new Writable({ write: (_chunk, _enc, cb) => cb() });
  const rl = createInterface({ input: process.stdin, output: muted, terminal: true });
  try {
    return await new Promise<string>((resolve) => rl.question('', resolve));
  } finally {
    rl.close();
    process.stderr.write('\n');
  }
}
