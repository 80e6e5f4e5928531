// Drives the PKCS#11 fault shim (pkcs11-fault-shim.c) from a test: owns its rule file and statistics file.
//
// Rule grammar (one rule per line, '#' comments):   <function> <action> [count] [arg]
//   function  one of FAULT_SHIM_FUNCTIONS, or '*' for all of them
//   action    rv=<code>  (hex 0xB3, decimal, or a CKR_ name)  — return <code>, the real function is not called
//             delay=<ms>                                      — sleep, then forward
//             close-session                                   — real C_CloseSession(hSession), then forward
//             logout                                          — real C_Logout(hSession), then forward
//             ('rv' / 'delay' without '=' take the value from [arg]; then count is required)
//   count     calls affected; omitted or -1 = unlimited, 0 = disabled. Counts reset whenever the file changes.
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const DEFAULT_REAL_MODULE = '/usr/lib/softhsm/libsofthsm2.so';

/** Functions the shim wraps; rules may name only these (or '*'). */
export const FAULT_SHIM_FUNCTIONS = [
  'C_Initialize',
  'C_Finalize',
  'C_GetSlotList',
  'C_GetTokenInfo',
  'C_OpenSession',
  'C_CloseSession',
  'C_GetSessionInfo',
  'C_Login',
  'C_Logout',
  'C_FindObjectsInit',
  'C_FindObjects',
  'C_FindObjectsFinal',
  'C_GetAttributeValue',
  'C_SignInit',
  'C_Sign',
  'C_SignUpdate',
  'C_SignFinal',
  'C_GenerateKeyPair',
  'C_GenerateRandom',
] as const;

export type FaultShimFunction = (typeof FAULT_SHIM_FUNCTIONS)[number];

/** Environment the shim reads; must be in the C environment of the process before the module is loaded. */
export interface FaultShimEnv {
  STRONGROOM_FAULT_REAL_MODULE: string;
  STRONGROOM_FAULT_CONTROL: string;
  STRONGROOM_FAULT_STATS: string;
}

const VALUE = /^(0[xX][0-9a-fA-F]+|[0-9]+|CKR_[A-Z_]+)$/;
const COUNT = /^(-1|[0-9]+)$/;

/** Throws if `line` is not a rule the shim accepts (comments and blank lines are accepted). */
export function validateFaultRule(line: string): void {
  const body = line.replace(/#.*/, '').trim();
  if (body === '') return;
  const fail = (why: string): never => {
    throw new Error(`invalid fault rule ${JSON.stringify(line)}: ${why}`);
  };
  const tokens = body.split(/\s+/);
  if (tokens.length < 2 || tokens.length > 4) fail('expected "<function> <action> [count] [arg]"');
  const [fn, action, count, arg] = tokens as [string, string, string | undefined, string | undefined];
  if (fn !== '*' && !(FAULT_SHIM_FUNCTIONS as readonly string[]).includes(fn)) fail(`unknown function ${fn}`);
  if (count !== undefined && !COUNT.test(count)) fail(`bad count ${count}`);
  const m = /^(rv|delay)(?:=(.*))?$/.exec(action);
  if (m) {
    const value = m[2] ?? arg;
    if (m[2] !== undefined && arg !== undefined) fail('value given twice');
    if (value === undefined || !VALUE.test(value)) fail(`bad value for ${m[1]}`);
    if (m[1] === 'delay' && value?.startsWith('CKR_')) fail('delay needs a number of milliseconds');
  } else if (action === 'close-session' || action === 'logout') {
    if (arg !== undefined) fail(`${action} takes no argument`);
  } else {
    fail(`unknown action ${action}`);
  }
}

export class FaultControl {
  readonly dir: string;
  readonly controlPath: string;
  readonly statsPath: string;
  readonly realModule: string;
  private generation = 0;

  constructor(dir: string, options: { realModule?: string } = {}) {
    this.dir = resolve(dir);
    this.controlPath = join(this.dir, 'fault-rules.conf');
    this.statsPath = join(this.dir, 'fault-stats');
    this.realModule = options.realModule ?? DEFAULT_REAL_MODULE;
    mkdirSync(this.dir, { recursive: true });
    rmSync(this.statsPath, { force: true });
    this.clear();
  }

  /** The three variables to set (on the main thread) before the shim is loaded and C_Initialize is called. */
  get env(): FaultShimEnv {
    return {
      STRONGROOM_FAULT_REAL_MODULE: this.realModule,
      STRONGROOM_FAULT_CONTROL: this.controlPath,
      STRONGROOM_FAULT_STATS: this.statsPath,
    };
  }

  /** Copies `env` into `target` (default process.env). */
  applyEnv(target: NodeJS.ProcessEnv = process.env): void {
    Object.assign(target, this.env);
  }

  /**
   * Replaces the whole rule set (and so resets every rule's count). Takes effect on the shim's next wrapped call.
   * The file is replaced atomically and its mtime always moves forward, so the shim sees the change even when two
   * rule sets of the same size are written within one filesystem timestamp tick. Every line is checked with
   * validateFaultRule first unless `validate: false` (used to test the shim's own parser).
   */
  inject(rules: string | string[], options: { validate?: boolean } = {}): void {
    const lines = (Array.isArray(rules) ? rules : rules.split('\n')).map((l) => l.trim());
    if (options.validate !== false) for (const line of lines) validateFaultRule(line);
    this.generation += 1;
    const text = `# strongroom fault rules, generation ${this.generation}\n${lines.filter((l) => l !== '').join('\n')}\n`;

    let mtimeMs = Date.now();
    if (existsSync(this.controlPath)) mtimeMs = Math.max(mtimeMs, statSync(this.controlPath).mtimeMs + 1);
    const tmp = join(this.dir, `.fault-rules.${process.pid}.${this.generation}.tmp`);
    writeFileSync(tmp, text);
    const t = new Date(Math.ceil(mtimeMs));
    utimesSync(tmp, t, t);
    renameSync(tmp, this.controlPath);
  }

  /** Removes every rule. */
  clear(): void {
    this.inject([]);
  }

  /** Current rule file contents. */
  rules(): string {
    return existsSync(this.controlPath) ? readFileSync(this.controlPath, 'utf8') : '';
  }

  /**
   * Last statistics the shim wrote (max_concurrent_sign, signs, logins, open_sessions, faults, rule_loads,
   * rule_errors). Empty before the shim first writes. Rewritten on a new concurrency maximum, each C_Login, each
   * C_OpenSession, each injected fault, each rule reload, C_Initialize and C_Finalize — `signs` may lag in between.
   */
  stats(): Record<string, number> {
    let text: string;
    try {
      text = readFileSync(this.statsPath, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
      throw err;
    }
    const out: Record<string, number> = {};
    for (const line of text.split('\n')) {
      const m = /^([A-Za-z0-9_.]+)=(-?\d+)$/.exec(line.trim());
      if (m) out[m[1]!] = Number(m[2]);
    }
    return out;
  }
}
