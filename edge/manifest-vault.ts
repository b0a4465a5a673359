// A Durable Object that keeps this node's last verified manifest (snapshot + deltas, as signed
// bytes: key hashes and catalog, no secrets) on local disk, so an edge restarted while the
// control plane is down still serves until that manifest's hard expiry. It stores and returns
// bytes only; the edge re-verifies everything it loads (manifest-chain.ts).
//
// Why a Durable Object: its storage survives a restart of the process under Miniflare
// (`durableObjectsPersist`) and plain workerd (`durableObjectStorage = (localDisk = …)`); the
// Cache API is a cache (may evict, and plain workerd has none unless configured).

/** Values are split: Durable Object storage refuses values above 128 KiB. */
const CHUNK_CHARS = 100_000;
const META = 'meta';
const PENDING = 'pending';

/** A generation of documents: `docs[i]` is the chunk count of document i, stored as `gen:i:chunk`. */
type Meta = { gen: number; docs: number[] };

export class ManifestVault {
  private readonly storage: DurableObjectStorage;

  constructor(state: DurableObjectState) {
    this.storage = state.storage;
  }

  async fetch(request: Request): Promise<Response> {
    const path = new URL(request.url).pathname;
    const doc = /^\/doc\/(\d{1,7})$/.exec(path);
    if (request.method === 'GET' && path === '/chain') return Response.json({ docs: (await this.storage.get<Meta>(META))?.docs.length ?? 0 });
    if (request.method === 'GET' && doc) return this.read(Number(doc[1]));
    if (request.method === 'PUT' && path === '/snapshot') return this.begin(await request.text());
    if (request.method === 'POST' && path === '/shard') return this.add(PENDING, await request.text());
    if (request.method === 'POST' && path === '/commit') return this.commit();
    if (request.method === 'POST' && path === '/delta') return this.add(META, await request.text());
    return new Response(null, { status: 404 });
  }

  private async read(index: number): Promise<Response> {
    const meta = await this.storage.get<Meta>(META);
    const chunks = meta?.docs[index];
    if (!meta || chunks === undefined) return new Response(null, { status: 404 });
    const keys = Array.from({ length: chunks }, (_, i) => `${meta.gen}:${index}:${i}`);
    const parts: string[] = [];
    for (let i = 0; i < keys.length; i += 128) {
      const got = await this.storage.get<string>(keys.slice(i, i + 128));
      for (const key of keys.slice(i, i + 128)) parts.push(got.get(key) ?? '');
    }
    return new Response(parts.join(''));
  }

  /** A new snapshot is staged in the next generation; the chain in use stays readable until commit. */
  private async begin(snapshot: string): Promise<Response> {
    const current = await this.storage.get<Meta>(META);
    const gen = (current?.gen ?? 0) + 1;
    await this.dropGeneration(gen);
    await this.storage.put(PENDING, { gen, docs: [] } satisfies Meta);
    return this.add(PENDING, snapshot);
  }

  private async commit(): Promise<Response> {
    const pending = await this.storage.get<Meta>(PENDING);
    if (!pending) return new Response(null, { status: 409 });
    const old = await this.storage.get<Meta>(META);
    await this.storage.put(META, pending);
    await this.storage.delete(PENDING);
    if (old) await this.dropGeneration(old.gen);
    return new Response(null, { status: 204 });
  }

  /** Appends one document to a generation; its record is written last, so a crash mid-write leaves it as it was. */
  private async add(record: typeof META | typeof PENDING, text: string): Promise<Response> {
    const meta = await this.storage.get<Meta>(record);
    if (!meta) return new Response(null, { status: 409 });
    const doc = meta.docs.length;
    const entries: Record<string, string> = {};
    let chunks = 0;
    for (let at = 0; at < text.length || chunks === 0; at += CHUNK_CHARS) entries[`${meta.gen}:${doc}:${chunks++}`] = text.slice(at, at + CHUNK_CHARS);
    const names = Object.keys(entries);
    for (let i = 0; i < names.length; i += 128) await this.storage.put(Object.fromEntries(names.slice(i, i + 128).map((k) => [k, entries[k]])));
    await this.storage.put(record, { gen: meta.gen, docs: [...meta.docs, chunks] } satisfies Meta);
    return new Response(null, { status: 204 });
  }

  private async dropGeneration(gen: number): Promise<void> {
    const stale = [...(await this.storage.list({ prefix: `${gen}:` })).keys()];
    for (let i = 0; i < stale.length; i += 128) await this.storage.delete(stale.slice(i, i + 128));
  }
}
