// The manifest store's persistence through the ManifestVault Durable Object (one per node id).

import type { ManifestPersistence } from './manifest-store.ts';

export function vaultPersistence(namespace: DurableObjectNamespace, nodeId: string): ManifestPersistence {
  const stub = () => namespace.get(namespace.idFromName(nodeId));
  async function call(method: string, path: string, body?: string): Promise<Response> {
    const response = await stub().fetch(`https://vault${path}`, { method, ...(body === undefined ? {} : { body }) });
    if (!response.ok) {
      await response.body?.cancel();
      throw new Error(`manifest vault ${method} ${path} answered ${response.status}`);
    }
    return response;
  }
  return {
    async load() {
      const { docs } = (await (await call('GET', '/chain')).json()) as { docs: number };
      return docs === 0 ? null : { length: docs, read: async (i) => (await call('GET', `/doc/${i}`)).text() };
    },
    async begin(snapshot) {
      await (await call('PUT', '/snapshot', snapshot)).body?.cancel();
    },
    async addShard(shard) {
      await (await call('POST', '/shard', shard)).body?.cancel();
    },
    async commit() {
      await (await call('POST', '/commit')).body?.cancel();
    },
    async append(delta) {
      await (await call('POST', '/delta', delta)).body?.cancel();
    },
  };
}
