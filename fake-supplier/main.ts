// Command line entry: starts the fake supplier on a fixed port for `npm start`, the benchmark or a
// manual session, and prints its base URL.
// Usage: tsx fake-supplier/main.ts [--port 7302] [--host 127.0.0.1] [--api-key KEY]
import { parseArgs } from 'node:util';
import { startFakeSupplier } from './server.ts';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '7302' },
    host: { type: 'string', default: '127.0.0.1' },
    'api-key': { type: 'string' },
  },
});

const port = Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65_535) {
  console.error(`--port must be an integer from 0 to 65535, got ${values.port}`);
  process.exit(2);
}

const supplier = await startFakeSupplier({ host: values.host, port, apiKey: values['api-key'] });
console.log(supplier.url);

const stop = (): void => {
  void supplier.close().then(() => process.exit(0));
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
