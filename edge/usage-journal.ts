// The usage journal: usage events written as small files through workerd's `disk` service in the
// edge's own process, so the end of an answer can wait for a local write (~0.3 ms) instead of the
// outbox's SQLite commit in the node's other process (a socket round trip plus an fsync, 1.5–2 ms
// in the bench). A file is deleted once the outbox holds every event in it; files a dead process
// left behind are appended to the outbox again when the next one starts (usage-outbox.ts), which
// is safe because the outbox and ingestion both keep an event id once.
//
// What it guarantees: a written file is in the kernel's page cache, so it survives a kill of the
// edge process (ARCHITECTURE.md: "durable across a restart of the edge process"), not a crash of
// the machine in the few ms before the outbox has committed the event. A node that must survive
// that too sets USAGE_DURABLE_BEFORE_END=commit (README "Usage events and the durable outbox").

import type { UsageEvent } from '../shared/usage.ts';

/** The directory under the disk service's root: the node's state directory holds the Durable Objects beside it. */
export const JOURNAL_DIR = 'usage-journal';

export interface Leftover {
  name: string;
  /** Null: the file could not be read as events (a write cut by the process's death, whose answer never ended). */
  events: UsageEvent[] | null;
}

export interface UsageJournal {
  /** Writes the events as one new file; resolves with its name once written, rejects when it was not. */
  write(events: readonly UsageEvent[]): Promise<string>;
  /** Deletes a file; one already gone is not an error (another isolate may have replayed it). */
  remove(name: string): Promise<void>;
  /** Files not written by this journal: what an earlier process left. */
  leftovers(): Promise<Leftover[]>;
}

/** The journal on a disk service binding (`(name = "USAGE_JOURNAL", service = "vault")` in the workerd config). */
export function diskJournal(disk: Fetcher, dir = JOURNAL_DIR): UsageJournal {
  const base = `https://usage-journal/${dir}/`;
  // Per isolate: a new process never mistakes an old file for one of its own, whatever the clock says.
  const prefix = crypto.randomUUID().slice(0, 8);
  let sequence = 0;

  async function call(path: string, init?: RequestInit): Promise<Response> {
    return disk.fetch(`${base}${path}`, init);
  }

  return {
    async write(events) {
      const name = `${prefix}-${++sequence}.json`;
      const response = await call(name, { method: 'PUT', body: JSON.stringify(events) });
      await response.body?.cancel();
      if (!response.ok) throw new Error(`usage journal: PUT answered ${response.status}`);
      return name;
    },
    async remove(name) {
      const response = await call(name, { method: 'DELETE' });
      await response.body?.cancel();
      if (!response.ok && response.status !== 404) throw new Error(`usage journal: DELETE answered ${response.status}`);
    },
    async leftovers() {
      const listing = await call('');
      if (listing.status === 404) {
        await listing.body?.cancel();
        return []; // nothing was ever written here
      }
      if (!listing.ok) throw new Error(`usage journal: listing answered ${listing.status}`);
      const entries = (await listing.json()) as { name: string; type: string }[];
      const found: Leftover[] = [];
      for (const { name, type } of entries) {
        if (type !== 'file' || name.startsWith(`${prefix}-`)) continue;
        const response = await call(name);
        if (response.status === 404) {
          await response.body?.cancel();
          continue;
        }
        found.push({ name, events: parseEvents(await response.text()) });
      }
      return found;
    },
  };
}

function parseEvents(text: string): UsageEvent[] | null {
  try {
    const value: unknown = JSON.parse(text);
    if (!Array.isArray(value) || !value.every((e) => typeof e === 'object' && e !== null && typeof (e as UsageEvent).id === 'string')) return null;
    return value as UsageEvent[];
  } catch {
    return null;
  }
}
