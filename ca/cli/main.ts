/** The `strongroom` command: dispatch, error reporting and exit codes. */
import { exitCodeFor, EXIT, messageFor, UsageError } from './cli-error.ts';

// Commands load on demand: an offline ceremony never pays for the database driver, nor `hsm keys` for PGlite.
const commands = {
  dev: async () => (await import('./dev-command.ts')).devCommand,
  hsm: async () => (await import('./hsm-command.ts')).hsmCommand,
  db: async () => (await import('./db-command.ts')).dbCommand,
  ceremony: async () => (await import('./ceremony-command.ts')).ceremonyCommand,
  ca: async () => (await import('./ca-command.ts')).caCommand,
  audit: async () => (await import('./audit-command.ts')).auditCommand,
  client: async () => (await import('./client-command.ts')).clientCommand,
  serve: async () => (await import('./serve-command.ts')).serveCommand,
  tsa: async () => (await import('./tsa-command.ts')).tsaCommand,
  drill: async () => (await import('./drill-command.ts')).drillCommand,
  cert: async () => (await import('./cert-command.ts')).certCommand,
};

export const USAGE = `usage: strongroom <command> …
  dev        prepare the dev token, keys and database, and check the signing path
  hsm        tokens and keys (init-token, keys, keygen, bench)
  db         database migrations (migrate, status, rollback-all)
  ceremony   offline root ceremonies (run, verify-transcript, split-pin)
  ca         issuers of the online CA (import, list, activate, retire)
  audit      the hash-chained audit log (verify, export, head)
  client     API clients and their bearer tokens (add, list, revoke)
  serve      the online CA: enrollment API, CRLs, CA certificates, health, metrics
  tsa        recorded time-stamp tokens (show)
  cert       issued certificates (orphans: reservations an interrupted issuance left behind)
  drill      restore drills (restore: the latest key backups into a scratch token, verified, destroyed, recorded)
Exit codes: 0 ok, 1 failure, 2 usage or configuration error, 3 PIN refused, 4 HSM unavailable.`;

export async function main(argv: string[], out: (line: string) => void = (l) => process.stdout.write(`${l}\n`), err: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): Promise<number> {
  const [command, ...rest] = argv;
  try {
    // Anything on a command line lands in shell history and process listings.
    if (argv.some((a) => /^--(so-)?pin(=|$)/.test(a))) throw new UsageError('PINs are never taken from the command line: use --pin-source file:PATH|env:NAME|prompt');
    switch (command) {
      case 'dev':
      case 'hsm':
      case 'db':
      case 'ca':
        return await (await commands[command]())(rest, out);
      case 'ceremony':
        return await (await commands.ceremony())(rest, out, err);
      case 'audit':
        return await (await commands.audit())(rest, out, err);
      case 'client':
        return await (await commands.client())(rest, out, err);
      case 'serve':
        return await (await commands.serve())(rest, out, err);
      case 'tsa':
        return await (await commands.tsa())(rest, out, err);
      case 'drill':
        return await (await commands.drill())(rest, out, err);
      case 'cert':
        return await (await commands.cert())(rest, out, err);
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
