/**
 * The four invariants every fault scenario ends with (../shared/reference/faults.md): no serial reused, every
 * certificate ever returned to a client is in the database byte for byte, CRL numbers only increased, the audit
 * chain verifies. A FaultLedger is what the test saw — certificates the API returned, CRLs it was served — and
 * what the previous checks saw of the database (row ids per serial, CRL rows, audit heads), so each check also
 * proves that nothing seen earlier was replaced, renumbered or cut off since.
 */
import { AsnConvert } from '@peculiar/asn1-schema';
import { Certificate } from '@peculiar/asn1-x509';
import type { Knex } from 'knex';
import { expect } from 'vitest';
import { verifyAudit, type AuditHead } from '../../ca/audit/index.ts';
import { crlNumberOf } from '../http/crl-support.ts';

export interface ReturnedCertificate {
  /** The serial the API reported (lowercase hex, as the API spells it). */
  serial: string;
  der: Uint8Array;
  /** Where it came from, for failure messages. */
  source: string;
}

export interface SeenCrl {
  caName: string;
  crlNumber: bigint;
  der: Uint8Array;
}

export interface InvariantSummary {
  certificateRows: number;
  returned: number;
  crls: number;
  auditRows: number;
}

/** Lowercase hex without leading zeros: serials compare by value (the API and the DER may differ in padding). */
export function normalSerial(hex: string): string {
  return BigInt(`0x${hex}`).toString(16);
}

export function pemToDer(pem: string): Uint8Array {
  const body = pem.replace(/-----(BEGIN|END) [A-Z ]+-----/g, '').replace(/\s+/g, '');
  return Uint8Array.from(Buffer.from(body, 'base64'));
}

function serialOfCertificate(der: Uint8Array): string {
  const cert = AsnConvert.parse(der, Certificate);
  return normalSerial(Buffer.from(cert.tbsCertificate.serialNumber).toString('hex'));
}

const eq = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b));

export class FaultLedger {
  /** Every certificate any client was handed, in the order received (replays included). */
  readonly returned: ReturnedCertificate[] = [];
  /** Every CRL the test was served, in the order fetched. */
  readonly crls: SeenCrl[] = [];
  /** ca_id:serial → certificates.id as first seen: a serial's row is never replaced by another. */
  private readonly serialRows = new Map<string, number>();
  /** crls.id → ca_id:number as first seen. */
  private readonly crlRows = new Map<number, string>();
  /** Highest CRL number per ca_id at the last check. */
  private readonly crlHigh = new Map<number, bigint>();
  /** Audit heads of earlier checks: each must still be in the log (nothing cut off or rewritten). */
  private readonly auditHeads: AuditHead[] = [];

  /** Records a certificate returned by POST /v1/certificates (201, or 200 for a replay). */
  returnedCertificate(body: { serial: string; certificate: string }, source: string): ReturnedCertificate {
    const r = { serial: body.serial, der: pemToDer(body.certificate), source };
    this.returned.push(r);
    return r;
  }

  /** Records a CRL the test was served. */
  servedCrl(caName: string, der: Uint8Array): SeenCrl {
    const c = { caName, crlNumber: crlNumberOf(der), der: Uint8Array.from(der) };
    this.crls.push(c);
    return c;
  }

  /**
   * Asserts the four invariants against the database (the database must be reachable). `scenario` names the
   * failure. Returns what was checked, for logs.
   */
  async check(db: Knex, scenario: string): Promise<InvariantSummary> {
    const where = (what: string) => `[${scenario}] ${what}`;

    // (1) No serial reused.
    const rows = (await db('certificates').select('id', 'ca_id', 'serial', 'status', 'certificate_der').orderBy('id')) as {
      id: number | string;
      ca_id: number | string;
      serial: string;
      status: string;
      certificate_der: Uint8Array | null;
    }[];
    const byKey = new Map<string, number>();
    for (const r of rows) {
      const key = `${Number(r.ca_id)}:${normalSerial(r.serial)}`;
      expect(byKey.has(key), where(`serial ${r.serial} of CA ${r.ca_id} is in the database twice`)).toBe(false);
      byKey.set(key, Number(r.id));
    }
    for (const [key, id] of this.serialRows) {
      const now = byKey.get(key);
      expect(now, where(`the row of serial ${key} (id ${id}) disappeared`)).toBeDefined();
      expect(now, where(`serial ${key} now belongs to another row: reused`)).toBe(id);
    }
    for (const [key, id] of byKey) if (!this.serialRows.has(key)) this.serialRows.set(key, id);
    // Among what clients received: one serial, one certificate (the same bytes twice only as an idempotent replay),
    // and the serial the API reported is the certificate's own.
    const returnedBySerial = new Map<string, ReturnedCertificate>();
    for (const r of this.returned) {
      const s = normalSerial(r.serial);
      expect(serialOfCertificate(r.der), where(`${r.source}: the reported serial is not the certificate's`)).toBe(s);
      const earlier = returnedBySerial.get(s);
      if (earlier) expect(eq(earlier.der, r.der), where(`serial ${s} was returned for two different certificates (${earlier.source}, ${r.source})`)).toBe(true);
      else returnedBySerial.set(s, r);
    }

    // (2) Every certificate ever returned is in the database, byte-equal, as issued (or since revoked).
    const bySerial = new Map<string, typeof rows>();
    for (const r of rows) {
      const s = normalSerial(r.serial);
      bySerial.set(s, [...(bySerial.get(s) ?? []), r]);
    }
    for (const [s, r] of returnedBySerial) {
      const candidates = bySerial.get(s) ?? [];
      const match = candidates.find((c) => c.certificate_der !== null && eq(new Uint8Array(c.certificate_der), r.der));
      expect(match, where(`${r.source}: returned certificate ${s} is not in the database byte for byte (rows: ${candidates.map((c) => c.status).join(', ') || 'none'})`)).toBeDefined();
      expect(['issued', 'revoked'], where(`${r.source}: certificate ${s} is stored as ${match?.status}`)).toContain(match!.status);
    }

    // (3) CRL numbers only increased.
    const crlRows = (await db('crls').select('id', 'ca_id', 'crl_number', 'crl_der').orderBy('id')) as { id: number | string; ca_id: number | string; crl_number: string | number; crl_der: Uint8Array }[];
    const lastInOrder = new Map<number, bigint>();
    for (const c of crlRows) {
      const ca = Number(c.ca_id);
      const n = BigInt(c.crl_number);
      const prev = lastInOrder.get(ca);
      if (prev !== undefined) expect(n > prev, where(`CA ${ca}: CRL number ${n} stored after ${prev}`)).toBe(true);
      lastInOrder.set(ca, n);
      expect(crlNumberOf(new Uint8Array(c.crl_der)), where(`CRL row ${c.id}: the DER's number is not the row's`)).toBe(n);
      const seen = this.crlRows.get(Number(c.id));
      if (seen !== undefined) expect(`${ca}:${n}`, where(`CRL row ${c.id} was renumbered`)).toBe(seen);
      else {
        const high = this.crlHigh.get(ca);
        if (high !== undefined) expect(n > high, where(`CA ${ca}: a new CRL numbered ${n}, not above ${high} of the last check`)).toBe(true);
        this.crlRows.set(Number(c.id), `${ca}:${n}`);
      }
    }
    for (const [ca, high] of this.crlHigh) {
      const now = lastInOrder.get(ca);
      expect(now !== undefined && now >= high, where(`CA ${ca}: the highest CRL number went from ${high} to ${now}`)).toBe(true);
    }
    for (const [ca, n] of lastInOrder) this.crlHigh.set(ca, n);
    // What the test was served: each one published (in the database, same bytes), never a lower number after a higher.
    const servedHigh = new Map<string, bigint>();
    for (const c of this.crls) {
      const high = servedHigh.get(c.caName);
      if (high !== undefined) expect(c.crlNumber >= high, where(`${c.caName}: served CRL ${c.crlNumber} after ${high}`)).toBe(true);
      servedHigh.set(c.caName, c.crlNumber);
      expect(crlRows.some((r) => eq(new Uint8Array(r.crl_der), c.der)), where(`${c.caName}: served CRL ${c.crlNumber} is not a published one`)).toBe(true);
    }

    // (4) The audit chain verifies, and every head an earlier check saw is still in it.
    const report = await verifyAudit(db, { checkpoints: [...this.auditHeads] });
    expect(report.problems, where('audit chain problems')).toEqual([]);
    expect(report.ok, where('audit chain verifies')).toBe(true);
    if (report.head.seq > 0) this.auditHeads.push(report.head);

    return { certificateRows: rows.length, returned: this.returned.length, crls: crlRows.length, auditRows: report.rows };
  }
}
