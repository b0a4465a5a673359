// The workerd config (capnp) of an edge node on plain `workerd serve`: the bundled Worker
// embedded as an ES module, its bindings, an HTTP socket, and a network service as globalOutbound.
// Every binding is `fromEnvironment`: the config holds no secret and no per-node value, so one
// file serves every node, and secrets reach workerd only through its process environment (a
// Kubernetes Secret in production, the child's env in scripts/edge-workerd.ts).
//
// `tsx scripts/workerd-config.ts` rewrites deploy/workerd/config.capnp, the committed copy.

import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { COMPATIBILITY_DATE } from './edge-miniflare.ts';

/** Every binding edge/config.ts reads; the environment variable of each has the same name. */
export const EDGE_BINDING_NAMES = [
  'NODE_ID',
  'NODE_PRIVATE_KEY',
  'NODE_ENCRYPTION_KEY',
  'CONTROL_PLANE_URL',
  'MANIFEST_PUBLIC_KEYS',
  'EDGE_REGION',
  'MANIFEST_REFRESH_SECONDS',
  'MANIFEST_MAX_STALE_SECONDS',
  'CREDENTIAL_REFRESH_SECONDS',
  'SUPPLIER_KEYS',
  'MAX_REQUEST_BYTES',
  'UPSTREAM_FIRST_BYTE_TIMEOUT_SECONDS',
  'USAGE_OUTBOX_MAX_EVENTS',
  'USAGE_DURABLE_BEFORE_END',
] as const;

export interface WorkerdConfigOptions {
  /** The bundle's path relative to the config file (workerd resolves `embed` from there). */
  bundle: string;
  /** Socket address, e.g. `*:8080` or `127.0.0.1:7300`. */
  address: string;
  /**
   * Who the Worker may reach. workerd's default outbound reaches public addresses only; a control
   * plane or supplier on a private network (a cluster Service) or loopback (tests) needs more.
   */
  allow: readonly ('public' | 'private' | 'local')[];
  /**
   * Directory of the node's Durable Objects on local disk, one subdirectory each: the manifest
   * vault (the last verified manifest: the node serves while the control plane is down) and the
   * usage outbox (usage events not yet taken by the control plane). Both survive a restart of the
   * node, so this must be a persistent volume. Absolute path.
   */
  vaultDir: string;
  /**
   * Where the node's usage-outbox process listens (`unix:/run/taas-edge/outbox.sock`), when the outbox runs in a
   * process of its own (renderOutboxConfig): its SQLite commits and their fsync then block that
   * process's thread, not the one serving requests. Absent: the outbox Durable Object runs in
   * this process (one process per node; what Miniflare does).
   */
  outboxAddress?: string;
  /** V8 flags for the edge process (workerd's `v8Flags`; benchmarks try GC settings with it). */
  v8Flags?: readonly string[];
  /**
   * A directory of its own for the usage journal instead of the vault directory (bench A/Bs of
   * where the journal lives, e.g. a tmpfs). Absolute path.
   */
  journalDir?: string;
}

/** A capnp string literal; the values here are names and paths, never secrets. */
function capnpText(value: string): string {
  if (/[\x00-\x1f"\\]/.test(value)) throw new Error(`workerd config: refusing to quote ${JSON.stringify(value)}`);
  return `"${value}"`;
}

/** The outbound network and the node's disk: the same in both processes of a node. */
function sharedServices(options: Omit<WorkerdConfigOptions, 'outboxAddress'>): string {
  return `    (name = "outbound", network = (allow = [${options.allow.map(capnpText).join(', ')}], tlsOptions = (trustBrowserCas = true))),
    (name = "vault", disk = (path = ${capnpText(options.vaultDir)}, writable = true)),${
      options.journalDir ? `\n    (name = "journal", disk = (path = ${capnpText(options.journalDir)}, writable = true)),` : ''
    }`;
}

/** A Worker of the bundle with every edge binding from the environment, plus its own bindings and Durable Objects. */
function workerBlock(name: string, bundle: string, bindings: readonly string[], namespaces: readonly string[]): string {
  const fromEnvironment = EDGE_BINDING_NAMES.map((binding) => `    (name = ${capnpText(binding)}, fromEnvironment = ${capnpText(binding)}),`);
  return `const ${name} :Workerd.Worker = (
  modules = [
    (name = "index.js", esModule = embed ${capnpText(bundle)}),
  ],
  compatibilityDate = ${capnpText(COMPATIBILITY_DATE)},
  bindings = [
${[...fromEnvironment, ...bindings.map((b) => `    ${b},`)].join('\n')}
  ],
  durableObjectNamespaces = [
${namespaces.map((n) => `    ${n},`).join('\n')}
  ],
  durableObjectStorage = (localDisk = "vault"),
  globalOutbound = "outbound",
);
`;
}

/**
 * The usage journal (edge/usage-journal.ts): files in the `usage-journal` directory of the node's
 * state directory, the one disk service the node already has. The edge process writes them; the
 * outbox process deletes those the edge names in an append, once it has committed their events.
 */
const journalBinding = (options: { journalDir?: string }): string => `(name = "USAGE_JOURNAL", service = "${options.journalDir ? 'journal' : 'vault'}")`;

/** The outbox Durable Object's class and storage key: the same in either layout, so a node keeps its events when it switches. */
const OUTBOX_NAMESPACE = '(className = "UsageOutboxObject", uniqueKey = "taas-edge-usage-outbox", enableSql = true)';

export function renderWorkerdConfig(options: WorkerdConfigOptions): string {
  const split = options.outboxAddress !== undefined;
  const outboxService = split ? `\n    (name = "usage-outbox", external = (address = ${capnpText(options.outboxAddress!)}, http = ())),` : '';
  const outboxBinding = split
    ? '(name = "USAGE_OUTBOX_SERVICE", service = "usage-outbox")'
    : '(name = "USAGE_OUTBOX", durableObjectNamespace = "UsageOutboxObject")';
  const vault = '(className = "ManifestVault", uniqueKey = "taas-edge-manifest-vault")';
  return `# The TaaS edge node on plain workerd. Generated by scripts/workerd-config.ts; do not edit.
# Run: workerd serve config.capnp (with the bundle, dist/edge/index.js, beside it as index.js)${split ? `,
# beside the node's usage-outbox process (workerd serve outbox.capnp) listening on ${options.outboxAddress}` : ''}.
# Every binding is read from the process environment: this file holds no secret.
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    (name = "edge", worker = .edgeWorker),
${sharedServices(options)}${outboxService}
  ],
  sockets = [
    (name = "http", address = ${capnpText(options.address)}, http = (), service = "edge"),
  ],${options.v8Flags?.length ? `\n  v8Flags = [${options.v8Flags.map(capnpText).join(', ')}],` : ''}
);

${workerBlock('edgeWorker', options.bundle, ['(name = "MANIFEST_VAULT", durableObjectNamespace = "ManifestVault")', outboxBinding, journalBinding(options)], split ? [vault] : [vault, OUTBOX_NAMESPACE])}`;
}

/**
 * The node's usage-outbox process: the same bundle, serving only its `usageOutbox` entrypoint
 * (edge/index.ts), which hands each call to the UsageOutboxObject. It delivers to the control
 * plane itself, so it gets the same bindings. Listen on a Unix socket (or loopback) only: whoever
 * reaches it can append events.
 */
export function renderOutboxConfig(options: Omit<WorkerdConfigOptions, 'outboxAddress'>): string {
  return `# The usage outbox of a TaaS edge node, in a process of its own. Generated by
# scripts/workerd-config.ts; do not edit. Run: workerd serve outbox.capnp (index.js beside it),
# next to the node's edge process (config.capnp), which reaches it on ${options.address}.
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    (name = "outbox", worker = .outboxWorker),
${sharedServices(options)}
  ],
  sockets = [
    (name = "outbox", address = ${capnpText(options.address)}, http = (), service = (name = "outbox", entrypoint = "usageOutbox")),
  ],
);

${workerBlock('outboxWorker', options.bundle, ['(name = "USAGE_OUTBOX", durableObjectNamespace = "UsageOutboxObject")', journalBinding(options)], [OUTBOX_NAMESPACE])}`;
}

/** The committed production configs (deploy/workerd/): an edge process and its outbox process, one pod. */
const NODE = { bundle: 'index.js', allow: ['public', 'private'], vaultDir: '/var/lib/taas-edge' } as const;
const OUTBOX_SOCKET = 'unix:/run/taas-edge/outbox.sock';
export const PRODUCTION = {
  edge: { ...NODE, address: '*:8080', outboxAddress: OUTBOX_SOCKET },
  outbox: { ...NODE, address: OUTBOX_SOCKET },
} as const satisfies { edge: WorkerdConfigOptions; outbox: Omit<WorkerdConfigOptions, 'outboxAddress'> };

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  // In a cluster the control plane is a private Service address; loopback is never needed there.
  for (const [name, text] of [
    ['config.capnp', renderWorkerdConfig(PRODUCTION.edge)],
    ['outbox.capnp', renderOutboxConfig(PRODUCTION.outbox)],
  ] as const) {
    const file = fileURLToPath(new URL(`../deploy/workerd/${name}`, import.meta.url));
    writeFileSync(file, text);
    process.stdout.write(`wrote ${file}\n`);
  }
}
