// The committed production files stay true to the code: deploy/workerd/config.capnp is exactly
// what scripts/workerd-config.ts generates, it binds every binding the edge reads, all from the
// environment (no secret in a file), and the cluster manifests take secrets from Secret objects.

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { EDGE_BINDING_NAMES, PRODUCTION, renderOutboxConfig, renderWorkerdConfig } from '../../scripts/workerd-config.ts';

const read = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');
const SECRET_BINDINGS = ['NODE_PRIVATE_KEY', 'NODE_ENCRYPTION_KEY', 'SUPPLIER_KEYS', 'MANIFEST_SIGNING_KEY', 'CREDENTIAL_KEKS', 'DATABASE_URL', 'MIGRATION_DATABASE_URL'];

describe('deploy files', () => {
  it('commits the workerd configs the script generates (regenerate: tsx scripts/workerd-config.ts)', () => {
    expect(read('deploy/workerd/config.capnp')).toBe(renderWorkerdConfig(PRODUCTION.edge));
    expect(read('deploy/workerd/outbox.capnp')).toBe(renderOutboxConfig(PRODUCTION.outbox));
  });

  it('runs each node as two processes that meet on one socket: the edge and its usage outbox', () => {
    const socket = PRODUCTION.outbox.address.replace(/^unix:/, '');
    expect(PRODUCTION.edge.outboxAddress).toBe(PRODUCTION.outbox.address);
    expect(PRODUCTION.edge.vaultDir).toBe(PRODUCTION.outbox.vaultDir);
    const edge = read('deploy/workerd/config.capnp');
    expect(edge).toContain(`external = (address = "${PRODUCTION.outbox.address}", http = ())`);
    expect(edge).toContain('(name = "USAGE_OUTBOX_SERVICE", service = "usage-outbox")');
    // Never both processes on the outbox's storage: the edge does not declare its namespace.
    expect(edge).not.toContain('UsageOutboxObject');
    const outbox = read('deploy/workerd/outbox.capnp');
    expect(outbox).toContain('entrypoint = "usageOutbox"');
    expect(outbox).toContain('(className = "UsageOutboxObject", uniqueKey = "taas-edge-usage-outbox", enableSql = true)');
    expect(outbox).not.toContain('ManifestVault');
    expect(read('deploy/edge.Dockerfile')).toMatch(/COPY deploy\/workerd\/config\.capnp deploy\/workerd\/outbox\.capnp \/srv\/edge\//);
    const k3s = read('deploy/k3s/edge.yaml');
    expect(k3s).toContain(`rm -f ${socket} && exec /usr/local/bin/workerd serve /srv/edge/outbox.capnp`);
    // Both containers mount the socket's directory and the node's volume.
    const mounts = k3s.match(/volumeMounts: \[.*\]/g) ?? [];
    expect(mounts).toHaveLength(2);
    for (const line of mounts) {
      expect(line).toContain(`{ name: vault, mountPath: ${PRODUCTION.edge.vaultDir} }`);
      expect(line).toContain(`{ name: run, mountPath: ${socket.slice(0, socket.lastIndexOf('/'))} }`);
    }
    expect(k3s).toContain('env: *bindings');
    // A node whose outbox is down is not ready (edge/app.ts /readyz).
    expect(k3s).toContain('httpGet: { path: /readyz, port: http }');
  });

  it('renders the one-process layout (the outbox inside the edge) without an outbox address', () => {
    const { outboxAddress: _, ...oneProcess } = PRODUCTION.edge;
    const config = renderWorkerdConfig(oneProcess);
    expect(config).toContain('(name = "USAGE_OUTBOX", durableObjectNamespace = "UsageOutboxObject")');
    expect(config).toContain('(className = "UsageOutboxObject", uniqueKey = "taas-edge-usage-outbox", enableSql = true)');
    expect(config).toContain('(className = "ManifestVault", uniqueKey = "taas-edge-manifest-vault")');
    expect(config).not.toContain('USAGE_OUTBOX_SERVICE');
    expect(config).not.toContain('external');
  });

  it('puts the usage journal in the vault directory, or in a disk service of its own when given one (bench A/Bs)', () => {
    expect(renderWorkerdConfig(PRODUCTION.edge)).toContain('(name = "USAGE_JOURNAL", service = "vault")');
    for (const config of [renderWorkerdConfig({ ...PRODUCTION.edge, journalDir: '/dev/shm/journal' }), renderOutboxConfig({ ...PRODUCTION.outbox, journalDir: '/dev/shm/journal' })]) {
      expect(config).toContain('(name = "journal", disk = (path = "/dev/shm/journal", writable = true))');
      expect(config).toContain('(name = "USAGE_JOURNAL", service = "journal")');
    }
  });

  it('binds every binding edge/config.ts reads, each from the environment', () => {
    const read_ = [...read('edge/config.ts').matchAll(/\((?:env), '([A-Z_]+)'/g)].map((m) => m[1]);
    expect(read_.length).toBeGreaterThan(5);
    expect(read_.filter((name) => !(EDGE_BINDING_NAMES as readonly string[]).includes(name!))).toEqual([]);
    for (const file of ['config.capnp', 'outbox.capnp']) {
      const config = read(`deploy/workerd/${file}`);
      expect(config).not.toMatch(/\btext\s*=/);
      for (const name of EDGE_BINDING_NAMES) expect(config).toContain(`(name = "${name}", fromEnvironment = "${name}")`);
      expect(config).toContain('compatibilityDate = "2026-04-26"');
      expect(config).toContain('globalOutbound = "outbound"');
      // The manifest vault and the outbox survive a restart: Durable Objects on local disk.
      expect(config).toContain('durableObjectStorage = (localDisk = "vault")');
    }
  });

  it('takes every secret in the cluster manifests from a Secret object, never inline', () => {
    for (const file of ['edge.yaml', 'control-plane.yaml']) {
      const text = read(`deploy/k3s/${file}`);
      for (const name of SECRET_BINDINGS) {
        const inline = new RegExp(`name: ${name}, value:`);
        expect(text, `${file} ${name}`).not.toMatch(inline);
        if (text.includes(`name: ${name}\n`)) expect(text.split(`name: ${name}\n`)[1]!.trimStart()).toMatch(/^valueFrom: \{ secretKeyRef:/);
      }
    }
  });
});
