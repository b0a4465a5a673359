// Bundles the edge Worker into one ES module (dist/edge/index.js) for Miniflare and plain workerd.

import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';

export const EDGE_BUNDLE = fileURLToPath(new URL('../dist/edge/index.js', import.meta.url));
const ENTRY = fileURLToPath(new URL('../edge/index.ts', import.meta.url));

export async function buildEdge(): Promise<string> {
  await build({
    entryPoints: [ENTRY],
    outfile: EDGE_BUNDLE,
    bundle: true,
    format: 'esm',
    platform: 'neutral',
    target: 'es2023',
    conditions: ['workerd', 'worker', 'browser'],
    mainFields: ['module', 'main'],
    minify: false,
    sourcemap: false,
    logLevel: 'warning',
  });
  return EDGE_BUNDLE;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  process.stdout.write(`built ${await buildEdge()}\n`);
}
