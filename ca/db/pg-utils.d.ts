// pg exports its lib/ files (package.json "exports": "./lib/*") but @types/pg does not declare this one.
declare module 'pg/lib/utils.js' {
  /** How pg.Client.query() turns a parameter into what goes on the wire (Buffer, string or null). */
  export function prepareValue(value: unknown): unknown;
}
