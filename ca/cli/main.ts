/** The `strongroom` command: dispatch, error reporting and exit codes. */
import { ceremonyCommand } from './ceremony-command.ts';
import { exitCodeFor, EXIT, messageFor, UsageError } from './cli-error.ts';
import { dbCommand } from './db-command.ts';
import { devCommand } from './dev-command.ts';
import { hsmCommand } from './hsm-command.ts';

export const USAGE = `usage: strongroom <command> …
  dev        prepare the dev token, keys and database, and check the signing path
  hsm        tokens and keys (init-token, keys, keygen, bench)
  db         database migrations (migrate, status, rollback-all)
  ceremony   offline root ceremonies (run, verify-transcript, split-pin)
Exit codes: 0 ok, 1 failure, 2 usage or configuration error, 3 PIN refused, 4 HSM unavailable.`;

export async function main(argv: string[], out: (line: string) => void = (l) => process.stdout.write(`${l}\n`), err: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): Promise<number> {
  const [command, ...rest] = argv;
  try {
    // Anything on a command line lands in shell history and process listings.
    if (argv.some((a) => /^--(so-)?pin(=|$)/.test(a))) throw new UsageError('PINs are never taken from the command line: use --pin-source file:PATH|env:NAME|prompt');
    switch (command) {
      case 'dev':
        return await devCommand(rest, out);
      case 'hsm':
        return await hsmCommand(rest, out);
      case 'db':
        return await dbCommand(rest, out);
      case 'ceremony':
        return await ceremonyCommand(rest, out, err);
      case undefined:
      case 'help':
      case '--help':
        out(USAGE);
        return command === undefined ? EXIT.usage : EXIT.ok;
      default:
        throw new UsageError(`unknown command "${command}"\n${USAGE}`);
    }
  } catch (e) {
    const code = exitCodeFor(e);
    err(`strongroom: ${messageFor(e)}`);
    if (code === EXIT.failure && process.env.STRONGROOM_DEBUG) err((e as Error).stack ?? '');
    return code;
  }
}
