/**
 * The CSR intake's strict DER pre-walk, run over every byte before anything decodes them (and over every extension
 * value before it is decoded): ca/x509/strict-der.ts's linear, iterative pass with a depth limit and an element
 * budget, its findings turned into bad_csr. Generic decoders are slow, recursive or ambiguous on what it refuses.
 * What it cannot see (DEFAULT values written out, SET OF order, the schema itself) schema.ts and the readers
 * below check.
 */
import { children, integerToBigint, readTlv, type Tlv } from '../x509/der.ts';
import { oidString } from '../x509/oid.ts';
import { primitiveProblem, strictDerProblem, type ElementBudget } from '../x509/strict-der.ts';
import { badCsr } from './errors.ts';

export type { Tlv };

export const DEFAULT_MAX_DEPTH = 32;
/**
 * ASN.1 libraries are not linear-time friends: @peculiar/asn1-schema spends ~50 µs per CHOICE element (names,
 * GeneralNames), so 64 KiB of tiny elements would cost hundreds of milliseconds. Element budgets bound that work.
 */
export const DEFAULT_MAX_ELEMENTS = 1024;

export type { ElementBudget };

export const elementBudget = (limit = DEFAULT_MAX_ELEMENTS): ElementBudget => ({ remaining: limit, limit });

export interface CheckDerOptions {
  maxDepth?: number;
  /** Shared across calls when given; a fresh DEFAULT_MAX_ELEMENTS budget otherwise. */
  budget?: ElementBudget;
  /** What the bytes are, for the message. */
  what?: string;
}

/**
 * Throws CsrError('bad_csr') unless `input` is exactly one strict-DER value no deeper than `maxDepth` and with no
 * more TLVs than the budget has left. String contents are judged later, by the name decoders, which answer
 * bad_name for smuggled values.
 */
export function checkDer(input: Uint8Array, { maxDepth = DEFAULT_MAX_DEPTH, budget = elementBudget(), what = 'DER' }: CheckDerOptions = {}): void {
  const problem = strictDerProblem(input, { maxDepth, budget, strings: false });
  if (problem) throw badCsr(problem.why === 'empty' ? `${what}: empty` : `${what}: ${problem.why} at offset ${problem.at}`);
}

// Readers for bytes that already passed checkDer: failures here are schema mismatches, reported as bad_csr.

export function tlvOf(bytes: Uint8Array, what: string): Tlv {
  try {
    return readTlv(bytes);
  } catch {
    throw badCsr(`${what}: malformed`);
  }
}

export function childrenOf(tlv: Tlv, what: string): Tlv[] {
  try {
    return children(tlv);
  } catch {
    throw badCsr(`${what}: malformed`);
  }
}

/** Children of a constructed TLV that must carry `tag`, with a count between min and max. */
export function expectChildren(tlv: Tlv, tag: number, what: string, min: number, max = min): Tlv[] {
  if (tlv.tag !== tag) throw badCsr(`${what}: unexpected type`);
  const kids = childrenOf(tlv, what);
  if (kids.length < min || kids.length > max) throw badCsr(`${what}: unexpected number of fields`);
  return kids;
}

/** Dotted text of OBJECT IDENTIFIER contents (already checked minimal by checkDer). */
export const oidText = (content: Uint8Array): string => oidString(content);

export function oidOf(tlv: Tlv, what: string): string {
  if (tlv.tag !== 0x06) throw badCsr(`${what}: expected an OBJECT IDENTIFIER`);
  return oidText(tlv.content);
}

/** An [n] IMPLICIT OBJECT IDENTIFIER (registeredID): the checks checkDer applies to universal OIDs, by hand. */
export function implicitOidOf(tlv: Tlv, what: string): string {
  if (tlv.tag & 0x20 || primitiveProblem(0x06, tlv.content)) throw badCsr(`${what}: malformed OBJECT IDENTIFIER`);
  return oidText(tlv.content);
}

export function integerOf(tlv: Tlv, what: string): bigint {
  if (tlv.tag !== 0x02) throw badCsr(`${what}: expected an INTEGER`);
  return integerToBigint(tlv.content);
}
