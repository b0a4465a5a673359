// Entry of the fake-supplier child: fake-supplier/server.ts on a fixed port, which also exits when
// the benchmark process is gone (its IPC channel closes), so no supplier outlives a killed run.
// Usage: tsx bench/supplier-process.ts <port> [--timings]; prints the supplier's base URL when
// listening. With --timings it keeps each exchange's arrival and answer time (monotonic ns) and
// hands them over, clearing them, when the parent sends `{ take: 'timings' }` (bench/breakdown.ts).

import { startFakeSupplier } from '../fake-supplier/server.ts';

const timings: [string, string][] = [];
const keepTimings = process.argv[3] === '--timings';
const supplier = await startFakeSupplier({
  host: '127.0.0.1',
  port: Number(process.argv[2]),
  ...(keepTimings ? { onExchange: (arrived: bigint, answered: bigint) => void timings.push([String(arrived), String(answered)]) } : {}),
});
if (keepTimings) {
  process.on('message', (message: { take?: string }) => {
    if (message.take !== 'timings') return;
    process.send!({ timings: timings.splice(0) });
  });
}
const stop = (): void => void supplier.close().finally(() => process.exit(0));
process.once('SIGTERM', stop);
process.once('disconnect', stop);
console.log(supplier.url);
