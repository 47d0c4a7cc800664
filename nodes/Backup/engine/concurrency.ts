/**
 * Results kept in input order while some of them are still being computed, so a stage can copy
 * files in parallel while the manifest is still written in walk order. Most results of a
 * backup are ready at once (unchanged files, folders), so they are held as values and only the
 * pending ones as promises: no promise per entry. At most `maxPending` promises and `maxHeld`
 * results are held: memory stays flat however long the stream is.
 */
export class OrderedWindow<R> {
  private readonly held: (R | Promise<R>)[] = [];
  private head = 0;
  private pending = 0;

  constructor(
    private readonly maxPending: number,
    private readonly maxHeld: number,
  ) {}

  /**
   * Adds the next result, then hands every result that is ready in order to `take`. Returns a
   * promise only when it has to wait (too much pending): callers await that, not every push.
   */
  push(result: R | Promise<R>, take: (result: R) => void): Promise<void> | undefined {
    if (result instanceof Promise) {
      this.pending++;
      // A rejection is observed when its turn comes; this stops Node reporting it as unhandled first.
      result.catch(() => undefined);
    }
    this.held.push(result);
    return this.release(take, false);
  }

  /** Hands over everything left, in order. */
  async finish(take: (result: R) => void): Promise<void> {
    await this.release(take, true);
  }

  /** Lets the in-flight work settle (after an error, before cleaning up behind it). */
  async settle(): Promise<void> {
    await Promise.allSettled(this.held.slice(this.head));
  }

  private release(take: (result: R) => void, all: boolean): Promise<void> | undefined {
    while (this.head < this.held.length) {
      const next = this.held[this.head];
      if (next instanceof Promise) {
        const mustWait = all || this.pending >= this.maxPending || this.held.length - this.head >= this.maxHeld;
        if (!mustWait) break;
        return this.waitFor(next, take, all);
      }
      this.head++;
      take(next);
    }
    if (this.head > 1024 && this.head * 2 > this.held.length) {
      this.held.splice(0, this.head);
      this.head = 0;
    }
    return undefined;
  }

  private async waitFor(next: Promise<R>, take: (result: R) => void, all: boolean): Promise<void> {
    this.held[this.head] = await next;
    this.pending--;
    await this.release(take, all);
  }
}
