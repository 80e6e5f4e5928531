#!/usr/bin/env node
// Launcher: Strongroom runs from its TypeScript sources through tsx, so `npx strongroom` works right after
// `npm install` with no build step.
import { register } from 'tsx/esm/api';

register();
// `strongroom hsm keys | head` closes the pipe early: that is not an error.
process.stdout.on('error', (e) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});
const { main } = await import('./main.ts');
process.exitCode = await main(process.argv.slice(2));
