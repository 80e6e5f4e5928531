/**
 * A strict, iterative DER reader over offsets into one input: one-byte tags, definite minimal lengths of at most
 * four octets, every element inside its parent. It only goes as deep as the caller asks, one level per cursor, so
 * attacker-chosen nesting costs nothing. Failures are the caller's error type (OcspMalformed for requests).
 */
import { OcspMalformed } from './errors.ts';

/** One TLV: `headerStart` is where its tag is, [start, end) its contents. */
export interface Element {
  tag: number;
  headerStart: number;
  start: number;
  end: number;
}

export type Fail = (detail: string) => Error;

const malformed: Fail = (detail) => new OcspMalformed(detail);

export class DerCursor {
  pos: number;

  constructor(
    readonly bytes: Uint8Array,
    start: number,
    readonly end: number,
    readonly fail: Fail = malformed,
  ) {
    this.pos = start;
  }

  get done(): boolean {
    return this.pos >= this.end;
  }

  /** The next tag, or -1 at the end. */
  peekTag(): number {
    return this.pos < this.end ? this.bytes[this.pos]! : -1;
  }

  readAny(what: string): Element {
    const { bytes, end } = this;
    const headerStart = this.pos;
    if (headerStart + 2 > end) throw this.fail(`${what}: truncated`);
    const tag = bytes[headerStart]!;
    if ((tag & 0x1f) === 0x1f) throw this.fail(`${what}: multi-byte tag`);
    let length = bytes[headerStart + 1]!;
    let start = headerStart + 2;
    if (length & 0x80) {
      const octets = length & 0x7f;
      if (octets === 0) throw this.fail(`${what}: indefinite length`);
      if (octets > 4) throw this.fail(`${what}: length too large`);
      if (start + octets > end) throw this.fail(`${what}: truncated`);
      if (bytes[start] === 0) throw this.fail(`${what}: length not minimal`);
      length = 0;
      for (let i = 0; i < octets; i++) length = length * 256 + bytes[start + i]!;
      if (length < 0x80) throw this.fail(`${what}: length not minimal`);
      start += octets;
    }
    if (length > end - start) throw this.fail(`${what}: truncated`);
    this.pos = start + length;
    return { tag, headerStart, start, end: start + length };
  }

  read(tag: number, what: string): Element {
    if (this.peekTag() !== tag) throw this.fail(this.done ? `${what}: missing` : `${what}: unexpected tag`);
    return this.readAny(what);
  }

  /** A cursor over the contents of `element`, failing the same way. */
  inside(element: Element): DerCursor {
    return new DerCursor(this.bytes, element.start, element.end, this.fail);
  }

  finish(what: string): void {
    if (this.pos !== this.end) throw this.fail(`${what}: unexpected trailing data`);
  }

  /** The contents of `element` as a view into the input. */
  contents(element: Element): Uint8Array {
    return this.bytes.subarray(element.start, element.end);
  }

  /** The whole TLV of `element` as a view into the input. */
  whole(element: Element): Uint8Array {
    return this.bytes.subarray(element.headerStart, element.end);
  }
}

/** Whether `bytes` is exactly one well-formed TLV with `tag`: an allocation-free check for the encoder's inputs. */
export function isSingleTlv(bytes: Uint8Array, tag: number): boolean {
  const n = bytes.length;
  if (n < 2 || bytes[0] !== tag) return false;
  let length = bytes[1]!;
  let header = 2;
  if (length & 0x80) {
    const octets = length & 0x7f;
    if (octets === 0 || octets > 4 || n < 2 + octets || bytes[2] === 0) return false;
    length = 0;
    for (let i = 0; i < octets; i++) length = length * 256 + bytes[2 + i]!;
    if (length < 0x80) return false;
    header += octets;
  }
  return header + length === n;
}

/** Whether [start, end) of `bytes` holds exactly `expected` (OID contents and the like). */
export function bytesAt(bytes: Uint8Array, start: number, end: number, expected: Uint8Array): boolean {
  if (end - start !== expected.length) return false;
  for (let i = 0; i < expected.length; i++) if (bytes[start + i] !== expected[i]) return false;
  return true;
}
