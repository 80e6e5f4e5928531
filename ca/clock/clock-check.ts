/**
 * Is our clock right? A TSA that knows its time is off answers timeNotAvailable rather than stamping a wrong time.
 * A check runs in the background every `intervalMs`; requests only read its last result. Until the first check
 * has passed, and whenever the last pass is older than three intervals (the check itself hangs or keeps failing),
 * the time counts as unavailable.
 *
 * Checks: `timedatectl` (systemd's NTPSynchronized — the kernel's view of NTP sync, as adjtimex reports it),
 * `database` (drift from the database server's clock, corrected for the round trip: catches a local clock that
 * was set wrong or jumped), or `none`.
 */
import { execFile } from 'node:child_process';
import type { ClockConfig } from './clock-config.ts';

export interface ClockStatus {
  ok: boolean;
  /** Why not, or what was measured; for logs and readiness. */
  detail: string;
}

export type ClockCheck = () => Promise<ClockStatus>;

export function timedatectlCheck(run: (cmd: string, args: string[]) => Promise<string> = execText): ClockCheck {
  return async () => {
    const out = (await run('timedatectl', ['show', '-p', 'NTPSynchronized', '--value'])).trim();
    return out === 'yes' ? { ok: true, detail: 'NTP synchronized' } : { ok: false, detail: `timedatectl NTPSynchronized=${out || '(empty)'}` };
  };
}

/** |our clock − the reference's| plus half the round trip must stay within `toleranceMs`. */
export function driftCheck(reference: () => Promise<Date>, clock: () => Date, toleranceMs: number): ClockCheck {
  return async () => {
    const t0 = clock().getTime();
    const ref = (await reference()).getTime();
    const t1 = clock().getTime();
    const drift = Math.abs(ref - (t0 + t1) / 2);
    const bound = drift + (t1 - t0) / 2;
    return bound <= toleranceMs ? { ok: true, detail: `drift ${Math.round(drift)} ms` } : { ok: false, detail: `clock drift up to ${Math.round(bound)} ms from the reference, tolerance ${toleranceMs} ms` };
  };
}

export const noClockCheck: ClockCheck = async () => ({ ok: true, detail: 'not checked' });

/** The check a clock config names. */
export function configuredClockCheck(c: ClockConfig, databaseTime: () => Promise<Date>, clock: () => Date): ClockCheck {
  switch (c.check) {
    case 'database':
      return driftCheck(databaseTime, clock, c.toleranceMs);
    case 'timedatectl':
      return timedatectlCheck();
    default:
      return noClockCheck;
  }
}

/** How often a clock config checks (a `none` check never changes its answer). */
export const clockIntervalMs = (c: ClockConfig): number => (c.check === 'none' ? 3_600_000 : c.intervalMs);

function execText(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => execFile(cmd, args, { timeout: 5000 }, (err, stdout) => (err ? reject(err) : resolve(stdout))));
}

export class ClockMonitor {
  private lastPass = -Infinity;
  private last: ClockStatus = { ok: false, detail: 'not checked yet' };
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(
    private readonly check: ClockCheck,
    private readonly intervalMs: number,
    private readonly onChange: (status: ClockStatus) => void = () => undefined,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Runs the first check (awaited) and schedules the next ones. */
  async start(): Promise<void> {
    await this.runOnce();
    this.timer ??= setInterval(() => void this.runOnce(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** The time may be used now. */
  ok(): boolean {
    return this.last.ok && this.now() - this.lastPass <= 3 * this.intervalMs;
  }

  status(): ClockStatus {
    return this.ok() || !this.last.ok ? this.last : { ok: false, detail: 'the clock check has not passed recently' };
  }

  runOnce(): Promise<void> {
    this.running ??= (async () => {
      let s: ClockStatus;
      try {
        s = await this.check();
      } catch (e) {
        s = { ok: false, detail: `clock check failed: ${(e as Error).message}` };
      }
      if (s.ok) this.lastPass = this.now();
      if (s.ok !== this.last.ok) this.onChange(s);
      this.last = s;
    })().finally(() => (this.running = undefined));
    return this.running;
  }
}
