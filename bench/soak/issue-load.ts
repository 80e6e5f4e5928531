// Issuance load for bench:soak: POST /v1/certificates through node:http with a keep-alive Agent (a few hundred
// requests per second at most, where node:http is lean enough), every answer classified: 201 with a certificate,
// 503 / 429 with Retry-After, or something else (named by status and error code).
import { execFile } from 'node:child_process';
import { Agent, request } from 'node:http';
import { promisify } from 'node:util';

/** Answers that are a correct reply under overload; anything else fails the soak. */
export const ISSUE_OK = new Set(['201', '503', '429']);

export interface IssueLoadOptions {
  url: string;
  /** Outstanding requests at most (one socket each). */
  maxSockets: number;
  timeoutMs: number;
  onAnswer(cls: string, ms: number, serial?: string): void;
  /** A new connection was made, in this many ms (TCP connect: a full accept queue shows as SYN retries of 1, 3, 7 s). */
  onConnect?(ms: number): void;
}

export class IssueLoad {
  private readonly agent: Agent;
  private inFlight = 0;
  /** The first few unexpected answers, for the report. */
  readonly samples: string[] = [];
  /** Why 503s were answered: their error messages, counted. */
  readonly unavailable = new Map<string, number>();

  constructor(private readonly o: IssueLoadOptions) {
    this.agent = new Agent({ keepAlive: true, maxSockets: o.maxSockets, maxFreeSockets: o.maxSockets });
    // Idle sockets are dropped after 2 s, well before the server's keep-alive timeout (5 s): a client that reuses a
    // socket the server is closing at that moment gets ECONNRESET ("socket hang up") for a request the server never
    // read, a race of the client's making. Only free sockets: the Agent's own `timeout` would also cut connects and
    // requests in flight. (Runs after the Agent's 'free' handler, which sets the server's keep-alive hint − 1 s.)
    this.agent.on('free', (socket) => socket.setTimeout(2000));
  }

  outstanding(): number {
    return this.inFlight;
  }

  /** Sends one request; false (nothing sent) when maxSockets requests are outstanding already. */
  send(body: string, token: string): boolean {
    if (this.inFlight >= this.o.maxSockets) return false;
    this.inFlight++;
    const t = performance.now();
    let settled = false;
    const done = (cls: string, serial?: string, detail?: string) => {
      if (settled) return;
      settled = true;
      this.inFlight--;
      if (!ISSUE_OK.has(cls) && detail !== undefined && this.samples.length < 5) this.samples.push(`${cls} after ${Math.round(performance.now() - t)} ms: ${detail.slice(0, 300)}`);
      this.o.onAnswer(cls, performance.now() - t, serial);
    };
    const req = request(
      this.o.url,
      { method: 'POST', agent: this.agent, headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body), Authorization: `Bearer ${token}` } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (e) => done('response error', undefined, e.message));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const status = res.statusCode ?? 0;
          let json: { serial?: string; certificate?: string; error?: { code?: string; message?: string } } = {};
          try {
            json = JSON.parse(text) as typeof json;
          } catch {
            // classified below
          }
          if (status === 201) {
            if (json.certificate?.startsWith('-----BEGIN CERTIFICATE-----') && json.serial) done('201', json.serial);
            else done('201 without a certificate', undefined, text);
          } else if (status === 503 || status === 429) {
            if (status === 503) {
              const why = json.error?.message ?? text.slice(0, 80);
              this.unavailable.set(why, (this.unavailable.get(why) ?? 0) + 1);
            }
            if (res.headers['retry-after'] === undefined) done(`${status} without Retry-After`, undefined, text);
            else done(String(status));
          } else done(`${status} ${json.error?.code ?? ''}`.trim(), undefined, text);
        });
      },
    );
    req.once('socket', (socket) => {
      if (!socket.connecting) return;
      const opened = performance.now();
      socket.once('connect', () => this.o.onConnect?.(performance.now() - opened));
    });
    req.setTimeout(this.o.timeoutMs, () => {
      done('timeout', undefined, `no answer in ${this.o.timeoutMs} ms`);
      req.destroy();
    });
    req.on('error', (e: NodeJS.ErrnoException) => done(`connection error ${e.code ?? ''}`.trim(), undefined, e.message));
    req.end(body);
    return true;
  }

  close(): void {
    this.agent.destroy();
  }
}

/** P-256 CSRs made by openssl (keys thrown away), CN and DNS SAN soak<i>.svc.internal, as JSON request bodies. */
export async function issueBodies(n: number): Promise<string[]> {
  const run = promisify(execFile);
  const one = async (i: number) =>
    (await run('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', '/dev/null', '-subj', `/CN=soak${i}.svc.internal`, '-addext', `subjectAltName=DNS:soak${i}.svc.internal`])).stdout;
  const out: string[] = [];
  for (let i = 0; i < n; i += 8) out.push(...(await Promise.all(Array.from({ length: Math.min(8, n - i) }, (_, j) => one(i + j)))));
  return out.map((csr) => JSON.stringify({ csr, profile: 'tls-server' }));
}
