// Admission of probes to one registry: at most `limit` at a time (one per pooled connection),
// the rest wait in arrival order. A probe's timeout starts when it is admitted, so it measures
// the registry and not the shim's own queue: a burst of pulls against a busy registry waits its
// turn instead of timing out in line. After a probe times out, the registry counts as not
// answering for a while: waiting and new probes are refused at once rather than each waiting
// out its own timeout, so a hanging registry costs a burst one timeout, not one per batch.

interface Waiter {
  admit(): void;
  refuse(why: string): void;
}

export class RegistryGate {
  private active = 0;
  /** In arrival order (a Set iterates in insertion order). */
  private readonly waiting = new Set<Waiter>();
  private closedUntil = 0;
  private closedWhy = '';

  constructor(private readonly limit: number) {}

  /**
   * Resolves with a release function once the probe may go; rejects with the reason when
   * the registry is not answering or the wait exceeds `maxWaitMs`.
   */
  admit(maxWaitMs: number): Promise<() => void> {
    if (performance.now() < this.closedUntil) return Promise.reject(new Error(this.closedWhy));
    if (this.active < this.limit) {
      this.active++;
      return Promise.resolve(this.releaser());
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        admit: () => {
          clearTimeout(timer);
          this.active++;
          resolve(this.releaser());
        },
        refuse: (why) => {
          clearTimeout(timer);
          reject(new Error(why));
        },
      };
      const timer = setTimeout(() => {
        this.waiting.delete(waiter);
        waiter.refuse(`no connection free within ${maxWaitMs}ms`);
      }, maxWaitMs);
      this.waiting.add(waiter);
    });
  }

  /** The registry is not answering: refuse every waiting probe, and new ones for `ms`. */
  close(ms: number, why: string): void {
    this.closedUntil = performance.now() + ms;
    this.closedWhy = why;
    for (const waiter of this.waiting) waiter.refuse(why);
    this.waiting.clear();
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.active--;
      const next = this.waiting.values().next();
      if (!next.done) {
        this.waiting.delete(next.value);
        next.value.admit();
      }
    };
  }
}
