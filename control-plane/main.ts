// Entry point of the control-plane process: real config, real clock, JSON logs.

import { loadConfig } from './config.ts';
import { jsonLogger } from './log.ts';
import { startControlPlane } from './server.ts';

const config = loadConfig();
const cp = await startControlPlane(config, { log: jsonLogger });
if (cp.bootstrapToken) {
  // Printed once, to the operator's terminal; it is never stored in clear. Before the listening
  // line, so whoever waits for that line has the token too.
  process.stdout.write(`\nFirst start: platform owner management token (shown once):\n  ${cp.bootstrapToken}\n\n`);
}
jsonLogger('info', 'control plane listening', { url: cp.url, database: cp.db.target });

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    cp.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  });
}
