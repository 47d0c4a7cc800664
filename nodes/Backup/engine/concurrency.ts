/**
 * Maps `source` through `fn` with up to `limit` calls in flight and yields results in input
 * order, so a stage can copy files in parallel while the manifest is still written in walk order.
 * At most `limit` inputs are buffered: memory stays flat however long the stream is.
 */
export async function* orderedMap<T, R>(source: AsyncIterable<T>, limit: number, fn: (item: T) => Promise<R>): AsyncGenerator<R> {
  const window: Promise<R>[] = [];
  try {
    for await (const item of source) {
      const pending = fn(item);
      // A rejection is observed when its turn comes; this stops Node reporting it as unhandled first.
      pending.catch(() => undefined);
      window.push(pending);
      if (window.length >= limit) yield await (window.shift() as Promise<R>);
    }
    while (window.length > 0) yield await (window.shift() as Promise<R>);
  } finally {
    // On an early exit, let the in-flight work settle before the caller cleans up behind it.
    await Promise.allSettled(window);
  }
}
