// The db-bridge as a sidecar process: `BRIDGE_TARGET=host:port [BRIDGE_PORT=n] [BRIDGE_HOST=addr]`,
// or `db-bridge-cli.ts host:port [port]`. A separate entry, so it reads process.env itself.
import { startDbBridge } from './db-bridge.ts';

const [targetArg = process.env.BRIDGE_TARGET ?? '', portArg = process.env.BRIDGE_PORT ?? '0'] = process.argv.slice(2);
const colon = targetArg.lastIndexOf(':');
const target = { host: targetArg.slice(0, colon), port: Number(targetArg.slice(colon + 1)) };
const listenPort = Number(portArg);
if (colon <= 0 || !Number.isInteger(target.port) || !Number.isInteger(listenPort)) {
  console.error('usage: BRIDGE_TARGET=host:port [BRIDGE_PORT=n] db-bridge-cli (or: db-bridge-cli host:port [port])');
  process.exit(2);
}

const listenHost = process.env.BRIDGE_HOST || '127.0.0.1';
const bridge = await startDbBridge({ target, listenHost, listenPort });
console.log(`db-bridge: ws://${listenHost}:${bridge.port}/v1 → ${target.host}:${target.port}`);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => void bridge.close().then(() => process.exit(0)));
}
