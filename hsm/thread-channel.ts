/** A session worker in a worker thread of this process: structured clone over a MessagePort. */
import { Worker } from 'node:worker_threads';
import type { FromWorker } from './pool-protocol.ts';
import type { OpenWorkerChannel } from './worker-channel.ts';

const ENTRY = new URL('./session-worker-entry.mjs', import.meta.url);

export const openThreadChannel: OpenWorkerChannel = (init, name, events) => {
  const worker = new Worker(ENTRY, { workerData: init, name });
  worker.on('message', (m: FromWorker) => events.message(m));
  worker.on('error', (e) => events.error(e));
  worker.on('exit', () => events.exit());
  return {
    post: (m) => worker.postMessage(m),
    terminate: async () => {
      await worker.terminate();
    },
  };
};
