/**
 * An answer by a deadline at the latest. A request held up by a stuck dependency (a database that stopped
 * answering, a lock another process holds) gets its 503 at the deadline instead of hanging; the work goes on in
 * the background, where the steps that matter check the same deadline before doing anything irreversible (the
 * issuance pipeline reserves no serial and signs nothing past it). Its late failure is dropped, not left unhandled:
 * the race below subscribes to it.
 */
export function answerBy<T>(deadlineAt: number, work: Promise<T>, late: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(late()), Math.max(0, deadlineAt - performance.now()));
  });
  return Promise.race([work, expired]).finally(() => clearTimeout(timer));
}
