// The UsageOutboxObject Durable Object: one per node (a fixed name), holding the node's usage events
// on local disk until the control plane has taken them (usage-outbox-store.ts), so they survive
// a restart of the edge process, and its alarm survives with them: a restarted node delivers
// what it held without waiting for traffic. Its storage lives in `durableObjectStorage =
// (localDisk = …)` under plain workerd and in `durableObjectsPersist` under Miniflare; both are
// SQLite with a sync per commit.
//
// The isolate talks to it over fetch (edge/usage-outbox.ts): POST /append (which also deletes the
// edge's journal files it names, after the commit), GET /status, POST /deliver (tests and flush).

import { importJWK, type CryptoKey } from 'jose';
import type { UsageEvent } from '../shared/usage.ts';
import { EdgeConfigError, parseEdgeConfig } from './config.ts';
import { createNodeIdentity } from './node-identity.ts';
import { USAGE_OUTBOX_NAME, type OutboxNamespace } from './usage-outbox.ts';
import { removeJournalFiles } from './usage-journal.ts';
import { createOutboxStore, type AppendAnswer, type Log, type OutboxStore } from './usage-outbox-store.ts';

/** ~0.6 KB each on disk: about 600 MB at the bound. USAGE_OUTBOX_MAX_EVENTS overrides it. */
export const DEFAULT_MAX_EVENTS = 1_000_000;
const CONTROL_PLANE_TIMEOUT_MS = 5000;

type Bindings = Record<string, unknown>;

const log: Log = (level, msg, fields) => console.log(JSON.stringify({ t: new Date().toISOString(), level, msg, ...fields }));

export function maxEventsOf(env: Bindings): number {
  const raw = env.USAGE_OUTBOX_MAX_EVENTS;
  // workerd binds an unset `fromEnvironment` variable as null.
  if (typeof raw !== 'string' || raw === '') return DEFAULT_MAX_EVENTS;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 100) throw new EdgeConfigError('binding USAGE_OUTBOX_MAX_EVENTS must be an integer of at least 100');
  return value;
}

/** POSTs a batch to the control plane with this node's token; the identity is built once, from the bindings. */
function controlPlanePost(env: Bindings): (body: string) => Promise<Response> {
  let target: Promise<{ url: string; authorization: () => Promise<string> }> | undefined;
  return async (body) => {
    target ??= (async () => {
      const config = parseEdgeConfig(env);
      const key = (await importJWK(config.nodePrivateJwk, 'EdDSA')) as CryptoKey;
      const identity = createNodeIdentity(config.nodeId, key, () => Date.now());
      return { url: `${config.controlPlaneUrl}/node/v1/usage`, authorization: () => identity.authorization() };
    })().catch((err: unknown) => {
      target = undefined;
      throw err;
    });
    const { url, authorization } = await target;
    return fetch(url, {
      method: 'POST',
      headers: { authorization: await authorization(), 'content-type': 'application/json' },
      body,
      signal: AbortSignal.timeout(CONTROL_PLANE_TIMEOUT_MS),
    });
  };
}

export class UsageOutboxObject {
  private readonly state: DurableObjectState;
  private readonly env: Bindings;
  private store: OutboxStore | undefined;

  constructor(state: DurableObjectState, env: Bindings) {
    this.state = state;
    this.env = env;
  }

  /** Built on first use, so a bad binding becomes an answered error (and a log line), not a broken object. */
  private open(): OutboxStore {
    this.store ??= createOutboxStore({
      storage: this.state.storage,
      maxEvents: maxEventsOf(this.env),
      post: controlPlanePost(this.env),
      nowMs: () => Date.now(),
      log,
    });
    return this.store;
  }

  async fetch(request: Request): Promise<Response> {
    const path = new URL(request.url).pathname;
    if (request.method === 'POST' && path === '/append') return Response.json(await this.append(await request.json()));
    if (request.method === 'GET' && path === '/status') return Response.json(await this.open().status());
    if (request.method === 'POST' && path === '/deliver') return Response.json(await this.open().deliver());
    return new Response(null, { status: 404 });
  }

  /**
   * An append: the events, or `{ events, journal }` where `journal` names the edge's journal files
   * holding only these events (edge/usage-journal.ts). Those are deleted once the events are
   * committed — here, off the thread serving requests — and the answer says which were.
   */
  private async append(body: unknown): Promise<AppendAnswer> {
    const { events, journal } = Array.isArray(body) ? { events: body as UsageEvent[], journal: [] } : (body as { events: UsageEvent[]; journal?: unknown });
    const answer = await this.open().append(events);
    const disk = this.env.USAGE_JOURNAL as Fetcher | undefined;
    if (!disk || !Array.isArray(journal) || journal.length === 0) return answer;
    await this.state.storage.sync(); // the commit is on disk before the journal's copy goes
    return { ...answer, removed: await removeJournalFiles(disk, journal) };
  }

  async alarm(): Promise<void> {
    const store = this.open();
    store.alarmFired();
    await store.deliver();
  }
}

/**
 * The entrypoint of the node's outbox process (scripts/workerd-config.ts renderOutboxConfig):
 * every call goes to the node's one UsageOutboxObject, as the edge's own namespace would send it.
 */
export const usageOutbox = {
  fetch(request: Request, env: Bindings): Promise<Response> {
    const namespace = env.USAGE_OUTBOX as DurableObjectNamespace | undefined;
    if (!namespace) return Promise.resolve(new Response('binding USAGE_OUTBOX is missing', { status: 500 }));
    return namespace.get(namespace.idFromName(USAGE_OUTBOX_NAME)).fetch(request);
  },
};

/** The outbox process seen by the edge as a namespace of one object: every id is that object. */
export function outboxServiceNamespace(service: Fetcher): OutboxNamespace {
  return {
    idFromName: (name) => {
      if (name !== USAGE_OUTBOX_NAME) throw new Error(`the outbox process holds only ${USAGE_OUTBOX_NAME}, not ${name}`);
      return { name } as unknown as DurableObjectId;
    },
    get: () => ({ fetch: (input, init) => service.fetch(input, init) }),
  };
}
