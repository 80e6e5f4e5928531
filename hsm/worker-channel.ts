/**
 * How a token pool talks to one session worker, whatever the worker runs in: a thread of this process
 * (thread-channel.ts) or a child process (process-channel.ts). The token pool does not care which.
 */
import type { FromWorker, ToWorker, WorkerInit } from './pool-protocol.ts';

export type WorkerKind = 'thread' | 'process';

export interface WorkerChannel {
  post(m: ToWorker): void;
  /**
   * Stops the worker (after it was asked to close its sessions); resolves once it is gone, or once a thread that is
   * stuck in a module call has been let go (it ends when the call returns).
   */
  terminate(): Promise<void>;
}

export interface WorkerChannelEvents {
  message(m: FromWorker): void;
  /** The worker failed outside any operation (e.g. could not start). An exit follows. */
  error(e: Error): void;
  /** The worker is gone, for whatever reason. Called once. */
  exit(): void;
}

export type OpenWorkerChannel = (init: WorkerInit, name: string, events: WorkerChannelEvents) => WorkerChannel;
