/**
 * JSON request bodies: UTF-8 only, parsed with a reviver that drops `__proto__`, `constructor` and `prototype`
 * keys wherever they appear (JSON.parse would make them own properties, harmless by themselves, but a later
 * spread or merge could give them effect), then validated with a strict zod schema: unknown keys are a 400.
 */
import type { IncomingMessage } from 'node:http';
import type { z } from 'zod';
import { HttpError } from './http-error.ts';
import { readRawBody } from './raw-body.ts';

const DROPPED_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

export function parseJsonText(bytes: Uint8Array): unknown {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    throw new HttpError('bad_request', 'the body is not UTF-8');
  }
  try {
    return JSON.parse(text, (key, value: unknown) => (DROPPED_KEYS.has(key) ? undefined : value));
  } catch {
    throw new HttpError('bad_request', 'the body is not valid JSON');
  }
}

function checkContentType(req: IncomingMessage): void {
  const type = req.headers['content-type'];
  if (type === undefined) return;
  const essence = type.split(';')[0]!.trim().toLowerCase();
  if (essence !== 'application/json' && !/^application\/[a-z0-9.+-]+\+json$/.test(essence)) {
    throw new HttpError('unsupported_media_type', 'send the body as application/json');
  }
}

/** Field names for messages: our schema's names, or a short JSON-quoted rendering of an unknown key. */
function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((i) => {
      const path = i.path.map((p) => String(p)).join('.') || '(body)';
      if (i.code === 'unrecognized_keys') return `unknown field(s): ${i.keys.map((k) => JSON.stringify(k.slice(0, 32))).join(', ')}`;
      return `${path}: ${i.message}`;
    })
    .slice(0, 5)
    .join('; ');
}

export function validate<S extends z.ZodType>(schema: S, value: unknown): z.output<S> {
  const r = schema.safeParse(value);
  if (!r.success) throw new HttpError('bad_request', describeIssues(r.error));
  return r.data;
}

export async function readJsonBody<S extends z.ZodType>(req: IncomingMessage, schema: S, limit?: number): Promise<z.output<S>> {
  checkContentType(req);
  const bytes = await readRawBody(req, limit);
  if (bytes.length === 0) throw new HttpError('bad_request', 'the request has no body');
  return validate(schema, parseJsonText(bytes));
}
