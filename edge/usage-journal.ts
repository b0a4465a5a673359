// The usage journal: usage events written as small files through workerd's `disk` service in the
// edge's own process, so the end of an answer can wait for a local write (~0.3 ms) instead of the
// outbox's SQLite commit in the node's other process (a socket round trip plus an fsync, 1.5–2 ms
// in the bench). A file is deleted once the outbox holds every event in it (by the outbox process,
// after its commit, when the edge names it in the append; else by the edge); files a dead process
// left behind are appended to the outbox again when the next one starts (usage-outbox.ts), which
// is safe because the outbox and ingestion both keep an event id once.
//
// What it guarantees: a written file is in the kernel's page cache, so it survives a kill of the
// edge process (ARCHITECTURE.md: "durable across a restart of the edge process"), not a crash of
// the machine in the few ms before the outbox has committed the event. A node that must survive
// that too sets USAGE_DURABLE_BEFORE_END=commit (README "Usage events and the durable outbox").

import type { UsageEvent } from '../shared/usage.ts';

/** The directory under the disk service's root: the node's state directory holds the Durable Objects beside it. */
const JOURNAL_DIR = 'usage-journal';

export interface Leftover {
  /** Its path under the disk service's root, as write() returns it. */
  path: string;
  /** Null: the file could not be read as events (a write cut by the process's death, whose answer never ended). */
  events: UsageEvent[] | null;
}

export interface UsageJournal {
  /** Writes the events as one new file; resolves with its path once written, rejects when it was not. */
  write(events: readonly UsageEvent[]): Promise<string>;
  /** Deletes a file; one already gone is not an error (another isolate may have replayed it). */
  remove(path: string): Promise<void>;
  /** Files not written by this journal: what an earlier process left. */
  leftovers(): Promise<Leftover[]>;
}

/** A journal file's path as the edge names it: a directory, then `<isolate prefix>-<sequence>.json`. */
const JOURNAL_PATH = /^[a-z0-9-]{1,64}\/[0-9a-f]{8}-[0-9]{1,15}\.json$/;

const url = (path: string) => `https://usage-journal/${path}`;

/** Deletes one file; false when the disk service would not (a missing file counts as deleted). */
async function removeFile(disk: Fetcher, path: string): Promise<boolean> {
  const response = await disk.fetch(url(path), { method: 'DELETE' });
  await response.body?.cancel();
  return response.ok || response.status === 404;
}

/**
 * The outbox process deletes the files whose events it has just committed (the edge names them
 * in its append), so the edge's thread does not. Returns the paths it deleted; anything else,
 * including a path not shaped like a journal file's, is left to the edge.
 */
export async function removeJournalFiles(disk: Fetcher, paths: readonly unknown[]): Promise<string[]> {
  const valid = paths.filter((path): path is string => typeof path === 'string' && JOURNAL_PATH.test(path));
  const done = await Promise.all(valid.map((path) => removeFile(disk, path).catch(() => false)));
  return valid.filter((_, i) => done[i]);
}

/** The journal on a disk service binding (`(name = "USAGE_JOURNAL", service = "vault")` in the workerd config). */
export function diskJournal(disk: Fetcher, dir = JOURNAL_DIR): UsageJournal {
  // Per isolate: a new process never mistakes an old file for one of its own, whatever the clock says.
  const prefix = crypto.randomUUID().slice(0, 8);
  let sequence = 0;

  return {
    async write(events) {
      const path = `${dir}/${prefix}-${++sequence}.json`;
      const response = await disk.fetch(url(path), { method: 'PUT', body: JSON.stringify(events) });
      await response.body?.cancel();
      if (!response.ok) throw new Error(`usage journal: PUT answered ${response.status}`);
      return path;
    },
    async remove(path) {
      if (!(await removeFile(disk, path))) throw new Error('usage journal: DELETE refused');
    },
    async leftovers() {
      const listing = await disk.fetch(url(`${dir}/`));
      if (listing.status === 404) {
        await listing.body?.cancel();
        return []; // nothing was ever written here
      }
      if (!listing.ok) throw new Error(`usage journal: listing answered ${listing.status}`);
      const entries = (await listing.json()) as { name: string; type: string }[];
      const found: Leftover[] = [];
      for (const { name, type } of entries) {
        if (type !== 'file' || name.startsWith(`${prefix}-`)) continue;
        const path = `${dir}/${name}`;
        const response = await disk.fetch(url(path));
        if (!response.ok) {
          await response.body?.cancel();
          if (response.status === 404) continue; // deleted meanwhile
          // Never taken for a cut-short file (which is deleted): the replay is tried again.
          throw new Error(`usage journal: reading a file answered ${response.status}`);
        }
        found.push({ path, events: parseEvents(await response.text()) });
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
