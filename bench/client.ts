// The parent's handle on the load-client child (bench/client-process.ts): one job at a time.

import { fileURLToPath } from 'node:url';
import { forkChild } from './children.ts';
import type { LoadResult, LoadSpec } from './load.ts';
import type { PacedResult, PacedSpec } from './paced.ts';
import type { StreamResult, StreamSpec } from './ttfb.ts';

export type ClientJob =
  | { id: number; kind: 'load'; spec: LoadSpec }
  | { id: number; kind: 'paced'; spec: PacedSpec }
  | { id: number; kind: 'streams'; spec: StreamSpec };
export type ClientReply = { id: number; result: LoadResult | StreamResult } | { id: number; error: string };

export interface LoadClient {
  pid: number;
  load(spec: LoadSpec): Promise<LoadResult>;
  paced(spec: PacedSpec): Promise<PacedResult>;
  streams(spec: StreamSpec): Promise<StreamResult>;
  stop(): Promise<void>;
}

const ENTRY = fileURLToPath(new URL('./client-process.ts', import.meta.url));

export async function startLoadClient(): Promise<LoadClient> {
  const child = await forkChild(ENTRY, []);
  let nextId = 0;
  const send = (job: ClientJob): Promise<LoadResult | StreamResult> =>
    new Promise((resolve, reject) => {
      const onReply = (reply: ClientReply): void => {
        if (reply.id !== job.id) return;
        child.process.off('message', onReply);
        child.process.off('exit', onExit);
        if ('error' in reply) reject(new Error(`load client: ${reply.error}`));
        else resolve(reply.result);
      };
      const onExit = (): void => reject(new Error('load client exited during a job'));
      child.process.on('message', onReply);
      child.process.once('exit', onExit);
      child.process.send(job);
    });
  return {
    pid: child.pid,
    load: async (spec) => (await send({ id: ++nextId, kind: 'load', spec })) as LoadResult,
    paced: async (spec) => (await send({ id: ++nextId, kind: 'paced', spec })) as PacedResult,
    streams: async (spec) => (await send({ id: ++nextId, kind: 'streams', spec })) as StreamResult,
    stop: child.stop,
  };
}
