// Tells long-polling edges when the manifest version moves. One loop per control-plane replica
// re-reads the version every `pollMs` while at least one edge waits, so the database sees ~5
// cheap queries a second per replica however many edges are connected, and a change committed
// by any replica is seen within `pollMs`.
//
// Why not LISTEN/NOTIFY: it needs one connection held open per replica; the embedded PGlite
// database has exactly one connection (pool size 1), which LISTEN would take from every query,
// and through the Neon driver's WebSocket bridge a held connection is one more thing to
// reconnect. A 200 ms re-read is well inside the 2 s budget and works the same on all targets.

export interface VersionWatch {
  /** Resolves with the version once it is above `version`, or with the latest seen after `timeoutMs`. */
  waitBeyond(version: number, timeoutMs: number): Promise<number>;
  close(): void;
}

export function createVersionWatch(deps: { readVersion: () => Promise<number>; pollMs: number; log?: (msg: string, fields?: Record<string, string>) => void }): VersionWatch {
  const waiters = new Set<{ beyond: number; resolve: (v: number) => void }>();
  let latest = 0;
  let timer: ReturnType<typeof setTimeout> | null = null;
  let closed = false;

  function settle(): void {
    for (const waiter of waiters) {
      if (latest > waiter.beyond) {
        waiters.delete(waiter);
        waiter.resolve(latest);
      }
    }
  }

  async function tick(): Promise<void> {
    timer = null;
    try {
      latest = Math.max(latest, await deps.readVersion());
      settle();
    } catch (err) {
      deps.log?.('manifest version read failed', { error: err instanceof Error ? err.message : String(err) });
    }
    if (waiters.size > 0 && !closed) timer = setTimeout(() => void tick(), deps.pollMs);
  }

  return {
    waitBeyond(version, timeoutMs) {
      return new Promise<number>((resolve) => {
        const waiter = {
          beyond: version,
          resolve: (v: number) => {
            clearTimeout(deadline);
            resolve(v);
          },
        };
        const deadline = setTimeout(() => {
          waiters.delete(waiter);
          resolve(latest);
        }, timeoutMs);
        waiters.add(waiter);
        if (timer === null && !closed) timer = setTimeout(() => void tick(), deps.pollMs);
      });
    },
    close() {
      closed = true;
      if (timer !== null) clearTimeout(timer);
      for (const waiter of waiters) waiter.resolve(latest);
      waiters.clear();
    },
  };
}
