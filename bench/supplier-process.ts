// Entry of the fake-supplier child: fake-supplier/server.ts on a fixed port, which also exits when
// the benchmark process is gone (its IPC channel closes), so no supplier outlives a killed run.
// Usage: tsx bench/supplier-process.ts <port>; prints the supplier's base URL when listening.

import { startFakeSupplier } from '../fake-supplier/server.ts';

const supplier = await startFakeSupplier({ host: '127.0.0.1', port: Number(process.argv[2]) });
const stop = (): void => void supplier.close().finally(() => process.exit(0));
process.once('SIGTERM', stop);
process.once('disconnect', stop);
console.log(supplier.url);
