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

type Meta = { gen: number; docs: number[] };

export class ManifestVault {
  private readonly storage: DurableObjectStorage;

  constructor(state: DurableObjectState) {
    this.storage = state.storage;
  }

  async fetch(request: Request): Promise<Response> {
    const path = new URL(request.url).pathname;
    if (request.method === 'GET' && path === '/chain') return Response.json(await this.load());
    if (request.method === 'PUT' && path === '/snapshot') return this.write(await request.text(), { fresh: true });
    if (request.method === 'POST' && path === '/delta') return this.write(await request.text(), { fresh: false });
    return new Response(null, { status: 404 });
  }

  private async load(): Promise<string[] | null> {
    const meta = await this.storage.get<Meta>(META);
    if (!meta) return null;
    const docs: string[] = [];
    for (const [doc, chunks] of meta.docs.entries()) {
      const keys = Array.from({ length: chunks }, (_, i) => `${meta.gen}:${doc}:${i}`);
      const parts: string[] = [];
      for (let i = 0; i < keys.length; i += 128) {
        const got = await this.storage.get<string>(keys.slice(i, i + 128));
        for (const key of keys.slice(i, i + 128)) parts.push(got.get(key) ?? '');
      }
      docs.push(parts.join(''));
    }
    return docs;
  }

  private async write(jws: string, options: { fresh: boolean }): Promise<Response> {
    const old = await this.storage.get<Meta>(META);
    if (!options.fresh && !old) return new Response(null, { status: 409 });
    const meta: Meta = options.fresh || !old ? { gen: (old?.gen ?? 0) + 1, docs: [] } : { gen: old.gen, docs: [...old.docs] };
    const doc = meta.docs.length;
    const entries: Record<string, string> = {};
    let chunks = 0;
    for (let at = 0; at < jws.length || chunks === 0; at += CHUNK_CHARS) entries[`${meta.gen}:${doc}:${chunks++}`] = jws.slice(at, at + CHUNK_CHARS);
    const names = Object.keys(entries);
    for (let i = 0; i < names.length; i += 128) await this.storage.put(Object.fromEntries(names.slice(i, i + 128).map((k) => [k, entries[k]])));
    meta.docs.push(chunks);
    // The meta record is written last: a crash mid-write leaves the previous chain readable.
    await this.storage.put(META, meta);
    if (options.fresh && old) {
      const stale = await this.storage.list({ prefix: `${old.gen}:` });
      const staleKeys = [...stale.keys()];
      for (let i = 0; i < staleKeys.length; i += 128) await this.storage.delete(staleKeys.slice(i, i + 128));
    }
    return new Response(null, { status: 204 });
  }
}
