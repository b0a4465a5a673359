// Entry of the load-client child: runs one job at a time from the parent (over IPC) so that the
// client's CPU never shares an event loop with the servers it measures.

import { runLoad, type LoadResult } from './load.ts';
import type { ClientJob, ClientReply } from './client.ts';
import { runPaced } from './paced.ts';
import { runStreams, type StreamResult } from './ttfb.ts';

process.on('message', (job: ClientJob) => {
  const work: Promise<LoadResult | StreamResult> = job.kind === 'load' ? runLoad(job.spec) : job.kind === 'paced' ? runPaced(job.spec) : runStreams(job.spec);
  work.then(
    (result) => process.send?.({ id: job.id, result } satisfies ClientReply),
    (err: unknown) => process.send?.({ id: job.id, error: err instanceof Error ? err.message : String(err) } satisfies ClientReply),
  );
});
process.once('SIGTERM', () => process.exit(0));
process.once('disconnect', () => process.exit(0));
console.log('ready');
