// OCSP load for bench:soak: raw keep-alive TCP connections with pipelined HTTP/1.1 requests (an http.request per
// request would make the generator the bottleneck on two cores), a bounded number of outstanding requests per
// connection, every answer classified by its HTTP status and OCSP responseStatus.
import { randomFillSync } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { certIdDer } from '../../ocsp/cert-id.ts';
import { fromHex, TAG, tlv } from '../../ocsp/encoding/der-writer.ts';
import { issuerHashes } from '../../ocsp/encoding/index.ts';

export type OcspKind = 'nonce' | 'post' | 'get';
/** The soak's OCSP mix, by arrival number: half live (nonce, an HSM signature each), half cached POST and GET. */
export const OCSP_MIX: readonly OcspKind[] = ['nonce', 'post', 'nonce', 'get'];
/** Answers that are a correct reply under overload; anything else fails the soak. */
export const OCSP_OK = new Set(['successful', 'tryLater']);

const OCSP_STATUS = ['successful', 'malformedRequest', 'internalError', 'tryLater', 'status 4', 'sigRequired', 'unauthorized'];

/** The request bytes (HTTP and DER) for one issuer and its serials: cached shapes cycle over the serials. */
export class OcspRequests {
  private readonly post: Buffer[];
  private readonly get: Buffer[];
  private readonly nonce: Buffer;
  private readonly nonceAt: number;
  private i = 0;

  constructor(issuerDer: Uint8Array, serials: readonly string[], host: string) {
    const h = issuerHashes(issuerDer).sha1;
    const request = (certId: Uint8Array, nonce?: Uint8Array) => {
      const ext = nonce ? [tlv(0xa2, tlv(TAG.SEQUENCE, tlv(TAG.SEQUENCE, fromHex('06092b0601050507300102'), tlv(TAG.OCTET_STRING, tlv(TAG.OCTET_STRING, nonce)))))] : [];
      return Buffer.from(tlv(TAG.SEQUENCE, tlv(TAG.SEQUENCE, tlv(TAG.SEQUENCE, tlv(TAG.SEQUENCE, certId)), ...ext)));
    };
    const postOf = (der: Buffer) => Buffer.concat([Buffer.from(`POST /ocsp HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/ocsp-request\r\nContent-Length: ${der.length}\r\n\r\n`, 'latin1'), der]);
    const ders = serials.map((s) => request(certIdDer('sha1', h.name, h.key, s)));
    this.post = ders.map(postOf);
    this.get = ders.map((der) => Buffer.from(`GET /ocsp/${encodeURIComponent(der.toString('base64'))} HTTP/1.1\r\nHost: ${host}\r\n\r\n`, 'latin1'));
    this.nonce = postOf(request(certIdDer('sha1', h.name, h.key, serials[0]!), Buffer.alloc(16, 0xee)));
    this.nonceAt = this.nonce.indexOf(Buffer.alloc(16, 0xee));
  }

  /** The next request of this shape; a nonce request gets 16 fresh random octets. */
  next(kind: OcspKind): Buffer {
    const i = this.i++;
    if (kind === 'post') return this.post[i % this.post.length]!;
    if (kind === 'get') return this.get[i % this.get.length]!;
    const b = Buffer.from(this.nonce);
    randomFillSync(b, this.nonceAt, 16);
    return b;
  }
}

/** OCSPResponse ::= SEQUENCE { responseStatus ENUMERATED, … }: the status's name, or 'unparseable'. */
export function ocspStatusOf(body: Buffer): string {
  if (body.length < 5 || body[0] !== 0x30) return 'unparseable';
  const l = body[1]!;
  const at = l < 0x80 ? 2 : 2 + (l & 0x7f);
  if (body[at] !== 0x0a || body[at + 1] !== 0x01) return 'unparseable';
  return OCSP_STATUS[body[at + 2]!] ?? `status ${body[at + 2]}`;
}

interface Pending {
  kind: OcspKind;
  t: number;
}

interface Conn {
  socket: Socket | undefined;
  buf: Buffer;
  queue: Pending[];
  timedOut: boolean;
}

export interface OcspLoadOptions {
  host: string;
  port: number;
  connections: number;
  /** Requests outstanding on one connection at most (1: no pipelining, as a closed loop of clients would do). */
  depth: number;
  /** An answer later than this counts as 'timeout' and its connection is dropped. */
  timeoutMs: number;
  onAnswer(kind: OcspKind, cls: string, ms: number): void;
}

export class OcspLoad {
  private readonly conns: Conn[];
  private rr = 0;
  private inFlight = 0;
  private readonly sweep: NodeJS.Timeout;
  readonly socketErrors = new Map<string, number>();

  constructor(private readonly o: OcspLoadOptions) {
    this.conns = Array.from({ length: o.connections }, () => ({ socket: undefined, buf: Buffer.alloc(0), queue: [], timedOut: false }));
    this.sweep = setInterval(() => {
      const now = performance.now();
      for (const c of this.conns)
        if (c.socket && c.queue.length && now - c.queue[0]!.t > o.timeoutMs) {
          c.timedOut = true;
          c.socket.destroy();
        }
    }, 500);
  }

  outstanding(): number {
    return this.inFlight;
  }

  /** Sends on the next connection with room; false (nothing sent) when every connection is at its depth. */
  send(kind: OcspKind, bytes: Buffer): boolean {
    // At the bound, say so at once: scanning every connection for each refused arrival would make the generator
    // burn a core exactly when the server is slowest.
    if (this.inFlight >= this.conns.length * this.o.depth) return false;
    for (let k = 0; k < this.conns.length; k++) {
      const c = this.conns[(this.rr = (this.rr + 1) % this.conns.length)]!;
      if (c.queue.length >= this.o.depth) continue;
      const s = c.socket ?? this.open(c);
      c.queue.push({ kind, t: performance.now() });
      this.inFlight++;
      s.write(bytes);
      return true;
    }
    return false;
  }

  /** Drops every connection; what is still outstanding counts as 'unanswered'. */
  close(): void {
    clearInterval(this.sweep);
    for (const c of this.conns) {
      c.timedOut = true;
      c.socket?.destroy();
    }
  }

  private open(c: Conn): Socket {
    const s = connect(this.o.port, this.o.host);
    s.setNoDelay(true);
    c.socket = s;
    c.buf = Buffer.alloc(0);
    c.timedOut = false;
    s.on('data', (d: Buffer) => this.data(c, d));
    s.on('error', (e: NodeJS.ErrnoException) => this.socketErrors.set(e.code ?? e.message, (this.socketErrors.get(e.code ?? e.message) ?? 0) + 1));
    s.on('close', () => {
      if (c.socket !== s) return;
      c.socket = undefined;
      const cls = c.timedOut ? 'timeout' : 'connection closed';
      const now = performance.now();
      for (const p of c.queue.splice(0)) this.answer(p, cls, now);
    });
    return s;
  }

  private answer(p: Pending, cls: string, now: number) {
    this.inFlight--;
    this.o.onAnswer(p.kind, cls, now - p.t);
  }

  private data(c: Conn, d: Buffer) {
    c.buf = c.buf.length ? Buffer.concat([c.buf, d]) : d;
    for (;;) {
      const end = c.buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = c.buf.toString('latin1', 0, end);
      const status = Number(head.slice(9, 12));
      const length = /\r\ncontent-length: *(\d+)/i.exec(head);
      let body: Buffer;
      let consumed: number;
      if (length) {
        consumed = end + 4 + Number(length[1]);
        if (c.buf.length < consumed) return;
        body = c.buf.subarray(end + 4, consumed);
      } else if (/\r\ntransfer-encoding: *chunked/i.test(head)) {
        const parts: Buffer[] = [];
        let at = end + 4;
        for (;;) {
          const eol = c.buf.indexOf('\r\n', at);
          if (eol < 0) return;
          const size = parseInt(c.buf.toString('latin1', at, eol), 16);
          if (c.buf.length < eol + 2 + size + 2) return;
          parts.push(c.buf.subarray(eol + 2, eol + 2 + size));
          at = eol + 2 + size + 2;
          if (size === 0) break;
        }
        body = Buffer.concat(parts);
        consumed = at;
      } else {
        body = Buffer.alloc(0);
        consumed = end + 4;
      }
      c.buf = c.buf.subarray(consumed);
      const p = c.queue.shift();
      const now = performance.now();
      if (p) this.answer(p, status === 200 ? ocspStatusOf(body) : `http ${status}`, now);
      else this.socketErrors.set(`unsolicited http ${status}`, (this.socketErrors.get(`unsolicited http ${status}`) ?? 0) + 1);
      if (/\r\nconnection: *close/i.test(head)) {
        c.socket?.destroy();
        return;
      }
    }
  }
}
