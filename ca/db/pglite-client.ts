/**
 * knex-pglite with node-pg's result shapes. It derives the command tag from knex's method name, so .del() and
 * .increment()/.decrement() ('del', 'counter') match neither DELETE nor UPDATE and resolve to the raw result
 * object instead of the affected row count that the pg client returns.
 */
import ClientPgLite from 'knex-pglite';

const METHOD_OF_COMMAND: Record<string, string> = { del: 'delete', counter: 'update' };

type ProcessResponse = (this: unknown, obj: { method?: string }, runner: unknown) => unknown;
const baseProcessResponse = (ClientPgLite.prototype as unknown as { processResponse: ProcessResponse }).processResponse;

export class PgliteClient extends ClientPgLite {
  processResponse(obj: { method?: string }, runner: unknown): unknown {
    const method = obj.method === undefined ? undefined : METHOD_OF_COMMAND[obj.method];
    return baseProcessResponse.call(this, method ? { ...obj, method } : obj, runner);
  }
}
