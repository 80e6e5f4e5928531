// Worker threads and worker processes (forked with no execArgv) start without the parent's TypeScript loader:
// register it, then run the worker.
import { register } from 'tsx/esm/api';

register();
await import('./session-worker.ts');
