/** A session worker in a worker thread of this process: structured clone over a MessagePort. */
import { Worker } from 'node:worker_threads';
import type { FromWorker } from './pool-protocol.ts';
import type { OpenWorkerChannel } from './worker-channel.ts';

const ENTRY = new URL('./session-worker-entry.mjs', import.meta.url);

/** How long a closed worker may take to end before the pool lets it go (one still inside a slow module call). */
const LEAVE_MS = 2000;

export const openThreadChannel: OpenWorkerChannel = (init, name, events) => {
  const worker = new Worker(ENTRY, { workerData: init, name });
  // Not events.once(): it would reject on the worker's 'error' event, with no one waiting yet.
  const gone = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  worker.on('message', (m: FromWorker) => events.message(m));
  worker.on('error', (e) => events.error(e));
  worker.on('exit', () => events.exit());
  return {
    post: (m) => worker.postMessage(m),
    terminate: async () => {
      // Never Worker.terminate(): a thread torn down from outside while it runs pkcs11js calls crashed the process
      // (SIGSEGV in an N-API callback) when a pool closed under load. Closed, the worker ends by itself
      // (session-worker.ts); one stuck in a module call ends when the call returns, unwaited and not holding the
      // process open.
      await Promise.race([gone, new Promise<void>((resolve) => setTimeout(resolve, LEAVE_MS).unref())]);
      worker.unref();
    },
  };
};
