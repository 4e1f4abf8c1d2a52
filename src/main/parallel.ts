/**
 * Runs `work` over `items` with at most `limit` in flight. Every call is awaited; if any
 * fails, no new work starts, the calls already running finish, and the first failure is
 * thrown — nothing is left running unobserved.
 */
export async function forEachConcurrent<T>(items: Iterable<T>, limit: number, work: (item: T) => Promise<void>): Promise<void> {
  const iterator = items[Symbol.iterator]();
  let failure: { error: unknown } | undefined;
  const worker = async (): Promise<void> => {
    for (let next = iterator.next(); !next.done && failure === undefined; next = iterator.next()) {
      try {
        await work(next.value);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, limit) }, worker));
  if (failure) throw failure.error;
}
