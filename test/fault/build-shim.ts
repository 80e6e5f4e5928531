// Compiles test/fault/pkcs11-fault-shim.c into a shared object, once per source version, and caches it in the OS
// temp directory. Safe to call from several processes at once: each compiles to a private name and renames.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

export const FAULT_SHIM_SOURCE = join(here, 'pkcs11-fault-shim.c');

/** Directory holding pkcs11.h / pkcs11t.h / pkcs11f.h as shipped with pkcs11js. */
export function pkcs11IncludeDir(): string {
  const pkg = createRequire(import.meta.url).resolve('pkcs11js/package.json');
  return join(dirname(pkg), 'includes', 'pkcs11');
}

let built: string | undefined;

/** Builds (or reuses) the fault shim and returns the absolute path of the .so. */
export function buildFaultShim(): string {
  if (built !== undefined && existsSync(built)) return built;

  const source = readFileSync(FAULT_SHIM_SOURCE);
  const include = pkcs11IncludeDir();
  const flags = ['-shared', '-fPIC', '-O2', '-std=gnu11', '-Wall', '-Wextra'];
  const hash = createHash('sha256')
    .update(source)
    .update('\0')
    .update(readFileSync(join(include, 'pkcs11.h')))
    .update(readFileSync(join(include, 'pkcs11t.h')))
    .update(readFileSync(join(include, 'pkcs11f.h')))
    .update('\0')
    .update(flags.join(' '))
    .digest('hex')
    .slice(0, 16);

  const dir = join(tmpdir(), `strongroom-fault-shim-${hash}`);
  const out = join(dir, 'pkcs11-fault-shim.so');
  if (!existsSync(out)) {
    mkdirSync(dir, { recursive: true });
    const tmp = join(dir, `.pkcs11-fault-shim.${process.pid}.${Date.now()}.so`);
    try {
      execFileSync('cc', [...flags, '-o', tmp, FAULT_SHIM_SOURCE, `-I${include}`, '-ldl', '-lpthread'], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      renameSync(tmp, out);
    } catch (err) {
      rmSync(tmp, { force: true });
      const stderr = (err as { stderr?: Buffer }).stderr?.toString() ?? '';
      throw new Error(`building the PKCS#11 fault shim failed: ${(err as Error).message}\n${stderr}`, { cause: err });
    }
  }
  built = out;
  return out;
}
