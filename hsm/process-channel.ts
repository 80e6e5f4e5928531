/**
 * A session worker in a child process of its own: the same protocol as a worker thread (pool-protocol.ts) over the
 * child_process IPC pipe, as JSON with binary fields in base64 (process-codec.ts says why not 'advanced').
 *
 * Why a process: each process loads its own instance of the PKCS#11 module, so locks the module takes per
 * application (SoftHSM2's per-object and per-store mutexes) are not shared between workers.
 *
 * The PIN travels only in the first IPC message (WorkerInit): never in argv, never in the child's environment —
 * variables that name a PIN or hold its value are left out of the environment the child inherits. The child exits
 * when the IPC channel closes, so it dies with the parent (session-worker.ts).
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ToProcess } from './pool-protocol.ts';
import { decodeFromWorker, encodeToProcess, type PipeFromWorker } from './process-codec.ts';
import type { OpenWorkerChannel } from './worker-channel.ts';

const ENTRY = fileURLToPath(new URL('./session-worker-entry.mjs', import.meta.url));

/** The parent's environment minus anything that is, or names, a PIN. */
export function childEnvironment(pin: string, env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined || /PIN/i.test(k) || (pin.length > 0 && v.includes(pin))) continue;
    out[k] = v;
  }
  return out;
}

export const openProcessChannel: OpenWorkerChannel = (init, name, events) => {
  const child = fork(ENTRY, [], {
    serialization: 'json',
    // Not the parent's flags (a profiler, an inspector port, a loader): the entry registers tsx itself.
    execArgv: [],
    env: childEnvironment(init.pin),
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  let gone = false;
  let exited!: () => void;
  const done = new Promise<void>((resolve) => (exited = resolve));
  const exit = () => {
    if (gone) return;
    gone = true;
    exited();
    events.exit();
  };
  child.on('message', (m: PipeFromWorker) => events.message(decodeFromWorker(m)));
  child.on('error', (e) => {
    events.error(e);
    if (child.pid === undefined) exit(); // never started: no 'exit' will follow
  });
  child.on('exit', exit);
  const send = (m: ToProcess) => {
    if (child.connected) child.send(encodeToProcess(m));
  };
  send({ t: 'init', init, title: `strongroom ${name}` });
  return {
    post: send,
    terminate: async () => {
      if (gone) return;
      // Closing the channel makes the child exit; one stuck inside a module call is killed.
      if (child.connected) child.disconnect();
      const kill = setTimeout(() => child.kill('SIGKILL'), 1000);
      await done;
      clearTimeout(kill);
    },
  };
};
