// Which certificates a pre-signing pass looks at: a sweep first and every sweepMs, the watermark in between, moved
// only by a pass that finished (everything it found signed), never backwards.
import { describe, expect, it } from 'vitest';
import { OcspResponder } from '../../ocsp/ocsp-responder.ts';
import { PresignCursor } from '../../ocsp/presign-cursor.ts';

describe('PresignCursor', () => {
  it('sweeps until a sweep has finished, then continues from the watermark read before the last finished pass', () => {
    const c = new PresignCursor(60_000);
    expect(c.plan(0)).toBeUndefined();
    expect(c.from).toBe(0);
    // A sweep that did not finish (its limit reached, or a signature failed) leaves everything as it was.
    expect(c.plan(1_000)).toBeUndefined();
    c.completed(500, true, 1_000);
    expect(c.plan(2_000)).toBe(500);
    expect(c.from).toBe(500);
    c.completed(800, false, 2_000);
    expect(c.plan(3_000)).toBe(800);
  });

  it('sweeps again every sweepMs, counted from the last finished sweep', () => {
    const c = new PresignCursor(60_000);
    c.completed(10, true, 0);
    c.completed(20, false, 30_000);
    expect(c.plan(59_999)).toBe(20);
    expect(c.plan(60_000)).toBeUndefined();
    // That sweep finishing restarts the count; a pass between sweeps does not.
    c.completed(30, true, 61_000);
    expect(c.plan(120_000)).toBe(30);
    expect(c.plan(121_000)).toBeUndefined();
  });

  it('never moves the watermark backwards', () => {
    const c = new PresignCursor(60_000);
    c.completed(100, true, 0);
    c.completed(40, false, 1_000);
    expect(c.plan(2_000)).toBe(100);
  });
});

describe('OcspResponder.presignDue and its cursor', () => {
  // A store with nothing to sign with: the responder has no issuers loaded, so every due row is unsignable.
  const fakeStore = (rows: number) => {
    const calls = { due: 0, dueSince: 0 };
    const row = (i: number) => ({ certificateId: i, caId: 1, serial: i.toString(16), state: 'issued' as const, notAfter: new Date(Date.now() + 1e9), createdAt: new Date(), revocation: null });
    const store = {
      due: async () => (calls.due++, Array.from({ length: rows }, (_, i) => row(i + 1))),
      dueSince: async () => (calls.dueSince++, []),
      presignWatermark: async () => rows,
      save: async () => undefined,
    } as unknown as ConstructorParameters<typeof OcspResponder>[0]['store'];
    return { store, calls };
  };

  it('moves on from the sweep once a pass found nothing it could not finish', async () => {
    const { store, calls } = fakeStore(0);
    const r = new OcspResponder({ store });
    await r.presignDue(10);
    await r.presignDue(10);
    expect(calls).toEqual({ due: 1, dueSince: 1 });
  });

  it('does not pass by rows it could not sign for want of a responder key: they are swept again', async () => {
    const { store, calls } = fakeStore(3);
    const r = new OcspResponder({ store });
    expect(await r.presignDue(10)).toBe(0);
    expect(await r.presignDue(10)).toBe(0);
    expect(calls).toEqual({ due: 2, dueSince: 0 });
  });
});
