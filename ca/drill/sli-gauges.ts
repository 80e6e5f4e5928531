/**
 * The SLI gauges that come from the database rather than from events in this process: days until each certificate
 * in service and each CRL expires, the audit log's head, and the restore-drill record. Refreshed on a timer by the
 * CA server (config metrics.refreshIntervalMs), so an expiry creeps towards its alert even when nothing happens.
 */
import type { CrlRow } from '../db/crl-store.ts';
import type { ServiceCertificateRow } from '../db/service-certificate-store.ts';
import type { Issuer } from '../issuance/issuer-registry.ts';
import type { LastDrills } from './db/drill-record-store.ts';

export interface SliSources {
  issuers(): Issuer[];
  serviceCertificates(): Promise<ServiceCertificateRow[]>;
  latestCrl(caId: number): Promise<CrlRow | undefined>;
  auditHead(): Promise<number>;
  drills(): Promise<LastDrills>;
  clock: () => Date;
}

export interface SliSink {
  certificateExpiry(rows: readonly { kind: string; name: string; days: number }[]): void;
  crlExpiry(rows: readonly { ca: string; days: number }[]): void;
  auditHead(seq: number): void;
  drills(last: LastDrills): void;
}

const DAY_MS = 86_400_000;

export async function refreshSliGauges(src: SliSources, sink: SliSink): Promise<void> {
  const now = src.clock().getTime();
  const days = (d: Date) => (d.getTime() - now) / DAY_MS;
  // Retired issuers sign nothing: their expiry is nobody's emergency.
  const issuers = src.issuers().filter((i) => i.row.status !== 'retired');
  const nameOf = (caId: number) => issuers.find((i) => i.row.id === caId)?.row.name ?? String(caId);

  const certs: { kind: string; name: string; days: number }[] = [];
  for (const i of issuers) if (i.row.notAfter) certs.push({ kind: 'ca', name: i.row.name, days: days(i.row.notAfter) });
  // Per purpose and CA only the newest certificate counts: a superseded one expiring is the rotation working.
  const newest = new Map<string, ServiceCertificateRow>();
  for (const r of await src.serviceCertificates()) {
    const key = `${r.purpose}\u0000${r.caId}`;
    const seen = newest.get(key);
    if (!seen || r.notAfter > seen.notAfter) newest.set(key, r);
  }
  for (const r of newest.values()) certs.push({ kind: r.purpose, name: nameOf(r.caId), days: days(r.notAfter) });

  const crls: { ca: string; days: number }[] = [];
  for (const i of issuers) {
    const crl = await src.latestCrl(i.row.id);
    if (crl) crls.push({ ca: i.row.name, days: days(crl.nextUpdate) });
  }
  const [head, drills] = await Promise.all([src.auditHead(), src.drills()]);
  sink.certificateExpiry(certs);
  sink.crlExpiry(crls);
  sink.auditHead(head);
  sink.drills(drills);
}
