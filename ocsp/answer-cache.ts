/**
 * The responder's memory: one slot per (issuer, serial, CertID hash) holding the signed answer, and an index from
 * the exact request bytes to a slot so a repeated request (the common case: clients and CDNs ask the same bytes
 * again and again) is answered without parsing. A slot is updated in place when its answer is re-signed or
 * replaced by a revocation, so every request key that points to it sees the new answer at once.
 * Both maps are bounded; the oldest entries go first (insertion order: cheaper than LRU bookkeeping per hit).
 */
export type SlotStatus = 'good' | 'revoked' | 'unknown';

export interface Slot {
  readonly key: string;
  certIdDer: Uint8Array;
  der: Uint8Array;
  status: SlotStatus;
  thisUpdate: Date;
  nextUpdate: Date;
  /** Quoted SHA-1 of the response (RFC 5019 §6.2 ETag). */
  etag: string;
  /** HTTP dates for Last-Modified (thisUpdate) and Expires (nextUpdate). */
  lastModified: string;
  expires: string;
  /** A revocation is being signed for this slot: never answer from it meanwhile. */
  held: boolean;
}

export function slotKey(caId: number, serial: string, hashAlgorithm: string): string {
  return `${caId}:${serial}:${hashAlgorithm}`;
}

export class AnswerCache {
  private readonly slots = new Map<string, Slot>();
  /** Request bytes → slot key (not the slot: an evicted slot must not live on through a request key). */
  private readonly requests = new Map<string, string>();

  constructor(
    private readonly maxSlots: number,
    private readonly maxRequests: number,
  ) {}

  slot(key: string): Slot | undefined {
    return this.slots.get(key);
  }

  forRequest(requestKey: string): Slot | undefined {
    const key = this.requests.get(requestKey);
    return key === undefined ? undefined : this.slots.get(key);
  }

  /** Stores the answer: into the existing slot (in place) if there is one. */
  put(next: Omit<Slot, 'held'>): Slot {
    const existing = this.slots.get(next.key);
    if (existing) {
      Object.assign(existing, next);
      return existing;
    }
    const slot: Slot = { ...next, held: false };
    this.slots.set(slot.key, slot);
    if (this.slots.size > this.maxSlots) {
      const oldest = this.slots.keys().next().value;
      if (oldest !== undefined) this.slots.delete(oldest);
    }
    return slot;
  }

  link(requestKey: string, slot: Slot): void {
    if (this.requests.has(requestKey)) return;
    this.requests.set(requestKey, slot.key);
    if (this.requests.size > this.maxRequests) {
      const oldest = this.requests.keys().next().value;
      if (oldest !== undefined) this.requests.delete(oldest);
    }
  }

  get size(): { slots: number; requests: number } {
    return { slots: this.slots.size, requests: this.requests.size };
  }
}
