// The usage journal (edge/usage-journal.ts) with the outbox's request side, on workerd's real disk
// service and the real UsageOutboxObject: an answer may end once its event's file is written,
// the file goes once the outbox holds its events, and what a dead process left is appended again.
import { env } from 'cloudflare:test';
import { afterEach, describe, expect, it } from 'vitest';
import { diskJournal, type UsageJournal } from '../../edge/usage-journal.ts';
import type { UsageEvent } from '../../shared/usage.ts';
import { deferred, within } from './support/deferred.ts';
import { outboxOn, real, requests, statusOf, stopAlarms, watched } from './support/outbox.ts';
import { usageEvent } from './support/usage-events.ts';

const disk = (env as unknown as { USAGE_JOURNAL: Fetcher }).USAGE_JOURNAL;

afterEach(stopAlarms);

/** A journal directory of the test's own, and what is in it. */
function directory() {
  const dir = `journal-${crypto.randomUUID()}`;
  return {
    dir,
    journal: () => diskJournal(disk, dir),
    async files(): Promise<Record<string, UsageEvent[]>> {
      const listing = await disk.fetch(`https://disk/${dir}/`);
      if (listing.status === 404) return {};
      const found: Record<string, UsageEvent[]> = {};
      for (const { name } of (await listing.json()) as { name: string }[]) found[name] = await (await disk.fetch(`https://disk/${dir}/${name}`)).json();
      return found;
    },
    put: (name: string, body: string) => disk.fetch(`https://disk/${dir}/${name}`, { method: 'PUT', body }),
  };
}

/** A journal whose writes the test sees, holds or fails. */
function watchedJournal(journal: UsageJournal, options: { hold?: Promise<void>; fail?: boolean } = {}) {
  const writes: number[] = [];
  const removes: string[] = [];
  const firstWrite = deferred<void>();
  const wrapped: UsageJournal = {
    async write(events) {
      writes.push(events.length);
      firstWrite.resolve();
      if (options.hold) await options.hold;
      if (options.fail) throw new Error('disk full');
      return journal.write(events);
    },
    remove: (path) => {
      removes.push(path);
      return journal.remove(path);
    },
    leftovers: () => journal.leftovers(),
  };
  return { journal: wrapped, writes, removes, firstWrite: firstWrite.promise };
}

describe('usage journal', () => {
  it('counts an event stored once its file is written, while its append is still out, and deletes the file once the outbox holds it', async () => {
    const hold = deferred<void>();
    const { namespace, appends } = watched({ hold: hold.promise });
    const d = directory();
    const { outbox, name } = outboxOn(namespace, { journal: d.journal() });
    const ctx = requests();
    const event = usageEvent();

    expect(await within(outbox.record(event, ctx.waitUntil), 5000, 'the journal write')).toBe('stored');
    expect(Object.values(await d.files())).toEqual([[event]]);
    expect(appends).toEqual([]);

    hold.resolve();
    await ctx.settle();
    expect(appends).toEqual([1]);
    expect((await statusOf(name)).pending).toBe(1);
    expect(await d.files()).toEqual({});
  });

  it('writes the events recorded while a write is out into one next file, and past four waiting requests leaves events to the append', async () => {
    const hold = deferred<void>();
    const d = directory();
    const { journal, writes, firstWrite } = watchedJournal(d.journal(), { hold: hold.promise });
    const appendHold = deferred<void>();
    const { namespace, appends } = watched({ hold: appendHold.promise });
    const { outbox, name } = outboxOn(namespace, { journal });
    const ctx = requests();
    const outcomes = [outbox.record(usageEvent(), ctx.waitUntil)];
    await firstWrite;
    // Four requests wait now; the next six find a busy node and wait for the append alone.
    for (let i = 0; i < 9; i++) outcomes.push(outbox.record(usageEvent(), ctx.waitUntil));
    hold.resolve();
    expect(await within(Promise.all(outcomes.slice(0, 4)), 5000, 'the journal writes')).toEqual(Array(4).fill('stored'));
    expect(writes).toEqual([1, 3]);
    appendHold.resolve();
    await ctx.settle();
    expect(await Promise.all(outcomes)).toEqual(Array(10).fill('stored'));
    expect(appends).toEqual([1, 9]);
    expect((await statusOf(name)).pending).toBe(10);
    expect(await d.files()).toEqual({});

    // Once no request waits any more, events are journaled again.
    expect(await outbox.record(usageEvent(), ctx.waitUntil)).toBe('stored');
    await ctx.settle();
    expect(writes).toEqual([1, 3, 1]);
  });

  it('journals every event while the outbox fails, those already waiting for its append too, so no answer waits for it', async () => {
    const d = directory();
    const { journal, writes } = watchedJournal(d.journal());
    // The first pump's five attempts fail (the outbox process is down); it is back after.
    const { namespace, appends } = watched({ fail: 5 });
    const { outbox, name, logs } = outboxOn(namespace, { journal });
    const ctx = requests();
    // Ten at once: four are journaled, six find a busy node and wait for the append alone.
    const events = Array.from({ length: 10 }, () => usageEvent());
    const outcomes = events.map((event) => outbox.record(event, ctx.waitUntil));
    expect(await within(Promise.all(outcomes), 5000, 'the answers, with the outbox down')).toEqual(Array(10).fill('stored'));
    expect(appends).toEqual([]);
    expect(writes.reduce((a, b) => a + b, 0)).toBe(10);
    const onDisk = Object.values(await d.files()).flat().map((e) => e.id);
    expect(onDisk.sort()).toEqual(events.map((e) => e.id).sort());
    expect(logs.filter((l) => l.msg === 'usage outbox did not take events: held in memory').length).toBeGreaterThan(0);

    // Once the outbox answers, it takes each event once and the files go.
    await ctx.settle();
    await outbox.flush();
    await ctx.settle();
    expect(appends.reduce((a, b) => a + b, 0)).toBe(10);
    expect((await statusOf(name)).pending).toBe(10);
    expect(await d.files()).toEqual({});

    // With the outbox answering again, a busy node leaves events past four waiting to the append.
    const again = Array.from({ length: 10 }, () => outbox.record(usageEvent(), ctx.waitUntil));
    expect(await within(Promise.all(again), 5000, 'the answers, with the outbox back')).toEqual(Array(10).fill('stored'));
    await ctx.settle();
    expect(writes.reduce((a, b) => a + b, 0)).toBe(14);
  });

  it('journals the events waiting for an append that has been out for a second (a frozen outbox process)', async () => {
    const d = directory();
    const { journal, writes } = watchedJournal(d.journal());
    const hold = deferred<void>();
    const { namespace, appends } = watched({ hold: hold.promise });
    const { outbox, name, clock } = outboxOn(namespace, { journal });
    const ctx = requests();
    const outcomes = Array.from({ length: 10 }, () => outbox.record(usageEvent(), ctx.waitUntil));
    expect(await within(Promise.all(outcomes.slice(0, 4)), 5000, 'the journaled four')).toEqual(Array(4).fill('stored'));
    let settled = 0;
    for (const outcome of outcomes.slice(4)) void outcome.then(() => settled++);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(settled).toBe(0); // the other six wait for the append, which is out
    expect(writes.reduce((a, b) => a + b, 0)).toBe(4);

    clock.advance(1000);
    expect(await within(Promise.all(outcomes.slice(4)), 3000, 'the six, journaled at their next tick')).toEqual(Array(6).fill('stored'));
    expect(writes.reduce((a, b) => a + b, 0)).toBe(10);
    expect(appends).toEqual([]);

    // The append comes back: every event once, and no file is left.
    hold.resolve();
    await ctx.settle();
    await outbox.flush();
    await ctx.settle();
    expect((await statusOf(name)).pending).toBe(10);
    expect(await d.files()).toEqual({});
  });

  it('gathers journaled events into one append after the last, naming their files, which the outbox process deletes after its commit', async () => {
    const d = directory();
    const { journal, writes, removes } = watchedJournal(d.journal());
    const { namespace, appends, handed } = watched();
    const tick = deferred<void>();
    const sleeps: number[] = [];
    const { outbox, name } = outboxOn(namespace, { journal, sleep: (ms) => (sleeps.push(ms), tick.promise) });
    const ctx = requests();
    // The first event is appended at once, before its file is written: the edge deletes that file.
    await outbox.record(usageEvent(), ctx.waitUntil);
    await ctx.settle();
    expect(removes).toHaveLength(1);
    // The next ones wait for the interval after that append (their requests do not), then go together.
    const outcomes = [outbox.record(usageEvent(), ctx.waitUntil), outbox.record(usageEvent(), ctx.waitUntil)];
    expect(await within(Promise.all(outcomes), 5000, 'the journal write')).toEqual(['stored', 'stored']);
    expect(sleeps).toEqual([20]);
    expect(appends).toEqual([1]);
    tick.resolve();
    await ctx.settle();
    expect(writes).toEqual([1, 1, 1]);
    expect(appends).toEqual([1, 2]);
    expect(handed[1]).toHaveLength(2);
    expect(removes).toHaveLength(1); // not the handed ones: the outbox process deleted those
    expect(await d.files()).toEqual({});
    expect((await statusOf(name)).pending).toBe(3);
  });

  it('has the outbox delete only what is shaped like a journal file, after the commit', async () => {
    const d = directory();
    await d.put('0123abcd-7.json', '[]');
    await d.put('notes.txt', 'kept');
    const { name } = outboxOn(real); // its alarm is stopped after the test
    const object = real.get(real.idFromName(name));
    const event = usageEvent();
    const journal = [`${d.dir}/0123abcd-7.json`, `${d.dir}/notes.txt`, `${d.dir}/../${d.dir}/0123abcd-7.json`, 42];
    const answer = (await (await object.fetch('https://usage-outbox/append', { method: 'POST', body: JSON.stringify({ events: [event], journal }) })).json()) as { stored: number; removed: string[] };
    expect(answer).toMatchObject({ stored: 1, removed: [`${d.dir}/0123abcd-7.json`] });
    const listing = (await (await disk.fetch(`https://disk/${d.dir}/`)).json()) as { name: string }[];
    expect(listing.map((f) => f.name)).toEqual(['notes.txt']);
  });

  it('appends at once when an event that is not journaled arrives while journaled ones wait for the interval', async () => {
    const d = directory();
    const hold = deferred<void>();
    const { journal } = watchedJournal(d.journal(), { hold: hold.promise });
    const { namespace, appends } = watched();
    // The interval of journaled appends never ends here; the short one does.
    const { outbox } = outboxOn(namespace, { journal, sleep: (ms) => (ms >= 20 ? new Promise<void>(() => {}) : Promise.resolve()) });
    const ctx = requests();
    const first = outbox.record(usageEvent(), ctx.waitUntil); // sets the time of the last append
    await within(first, 5000, 'the first append');
    // Four requests wait for their (held) journal writes; their append waits for the interval.
    const journaled = Array.from({ length: 4 }, () => outbox.record(usageEvent(), ctx.waitUntil));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(appends).toEqual([1]);
    // A fifth finds the node busy: not journaled, so it cannot wait for the interval.
    const busy = outbox.record(usageEvent(), ctx.waitUntil);
    expect(await within(busy, 5000, 'the append of an event that is not journaled')).toBe('stored');
    expect(appends).toEqual([1, 5]);
    expect(await Promise.all(journaled)).toEqual(Array(4).fill('stored'));
    hold.resolve();
  });

  it('deletes the file itself when the outbox took its events before the write was done', async () => {
    const hold = deferred<void>();
    const d = directory();
    const { journal, firstWrite } = watchedJournal(d.journal(), { hold: hold.promise });
    const { namespace, appends } = watched();
    const { outbox } = outboxOn(namespace, { journal });
    const ctx = requests();
    const outcome = outbox.record(usageEvent(), ctx.waitUntil);
    await firstWrite;
    expect(await within(outcome, 5000, 'the append')).toBe('stored'); // the outbox answered first
    expect(appends).toEqual([1]);
    hold.resolve();
    await ctx.settle();
    expect(await d.files()).toEqual({});
  });

  it('counts a request that stopped waiting (the outbox did not answer for 30 s) as no longer waiting', async () => {
    const never = deferred<void>();
    const { namespace } = watched({ hold: never.promise });
    const d = directory();
    const disk = { fail: true };
    const { journal, writes } = watchedJournal(d.journal(), disk);
    const { outbox, clock } = outboxOn(namespace, { journal });
    const ctx = requests();
    const stuck = Array.from({ length: 5 }, () => outbox.record(usageEvent(), ctx.waitUntil));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(writes).toEqual([1, 3]); // the fifth found four waiting; both writes failed
    clock.advance(30_000);
    expect(await within(Promise.all(stuck), 5000, 'the 30 s bound')).toEqual(Array(5).fill('held'));
    // The disk works again and nobody waits: the next event is journaled, though the outbox is still down.
    disk.fail = false;
    expect(await within(outbox.record(usageEvent(), ctx.waitUntil), 5000, 'the journal write')).toBe('stored');
    expect(writes).toEqual([1, 3, 1]);
  });

  it('lets the answer wait for the outbox when the journal cannot write, with a log line', async () => {
    const hold = deferred<void>();
    const { namespace } = watched({ hold: hold.promise });
    const d = directory();
    const { journal } = watchedJournal(d.journal(), { fail: true });
    const { outbox, logs } = outboxOn(namespace, { journal });
    const ctx = requests();
    let settled = false;
    const outcome = outbox.record(usageEvent(), ctx.waitUntil).then((o) => ((settled = true), o));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(settled).toBe(false);
    expect(logs.map((l) => l.msg)).toEqual(['usage journal write failed: answers wait for the outbox']);
    hold.resolve();
    expect(await outcome).toBe('stored');
    await ctx.settle();
    expect(await d.files()).toEqual({});
  });

  it('appends what an earlier process left once, from the first request, skipping what the outbox holds, and deletes an unreadable file', async () => {
    const d = directory();
    const earlier = d.journal(); // another isolate: another file prefix
    const left = [[usageEvent(), usageEvent()], [usageEvent()]];
    for (const events of left) await earlier.write(events);
    await d.put('cut-short.json', '[{"id":"0190');
    const { namespace, appends } = watched();
    const { outbox, name, logs } = outboxOn(namespace, { journal: d.journal() });
    // One of them reached the outbox before the process died.
    await real.get(real.idFromName(name)).fetch('https://usage-outbox/append', { method: 'POST', body: JSON.stringify([left[1]![0]]) });

    const ctx = requests();
    expect(outbox.resumeDue).toBe(true);
    outbox.resume(ctx.waitUntil);
    expect(outbox.resumeDue).toBe(false);
    outbox.resume(ctx.waitUntil);
    expect(ctx.count()).toBe(1);
    await ctx.settle();
    expect(appends).toEqual([3]);
    expect((await statusOf(name)).pending).toBe(3);
    expect(await d.files()).toEqual({});
    expect(logs).toEqual([
      { level: 'warn', msg: 'usage journal file unreadable: deleted', fields: { file: `${d.dir}/cut-short.json` } },
      { level: 'info', msg: 'usage journal: appending what an earlier process left', fields: { files: 2, events: 3 } },
    ]);

    outbox.resume(ctx.waitUntil);
    expect(ctx.count()).toBe(1);
  });

  it('tries the replay again from the next request when the journal could not be listed', async () => {
    const d = directory();
    const journal: UsageJournal = { ...d.journal(), leftovers: () => Promise.reject(new Error('EIO')) };
    const { outbox, logs } = outboxOn(real, { journal });
    const ctx = requests();
    outbox.resume(ctx.waitUntil);
    await ctx.settle();
    expect(outbox.resumeDue).toBe(true);
    expect(logs).toEqual([{ level: 'error', msg: 'usage journal could not be listed: the next request tries again', fields: { error: 'EIO' } }]);
  });
});
