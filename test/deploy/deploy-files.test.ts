// The committed production files stay true to the code: deploy/workerd/config.capnp is exactly
// what scripts/workerd-config.ts generates, it binds every binding the edge reads, all from the
// environment (no secret in a file), and the cluster manifests take secrets from Secret objects.

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { EDGE_BINDING_NAMES, renderWorkerdConfig } from '../../scripts/workerd-config.ts';

const read = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');
const SECRET_BINDINGS = ['NODE_PRIVATE_KEY', 'NODE_ENCRYPTION_KEY', 'SUPPLIER_KEYS', 'MANIFEST_SIGNING_KEY', 'CREDENTIAL_KEKS', 'DATABASE_URL', 'MIGRATION_DATABASE_URL'];

describe('deploy files', () => {
  it('commits the workerd config the script generates (regenerate: tsx scripts/workerd-config.ts)', () => {
    expect(read('deploy/workerd/config.capnp')).toBe(renderWorkerdConfig({ bundle: 'index.js', address: '*:8080', allow: ['public', 'private'], vaultDir: '/var/lib/taas-edge' }));
  });

  it('binds every binding edge/config.ts reads, each from the environment', () => {
    const read_ = [...read('edge/config.ts').matchAll(/\((?:env), '([A-Z_]+)'/g)].map((m) => m[1]);
    expect(read_.length).toBeGreaterThan(5);
    expect(read_.filter((name) => !(EDGE_BINDING_NAMES as readonly string[]).includes(name!))).toEqual([]);
    const config = read('deploy/workerd/config.capnp');
    expect(config).not.toMatch(/\btext\s*=/);
    expect(config).toContain('compatibilityDate = "2026-04-26"');
    expect(config).toContain('globalOutbound = "outbound"');
    // The manifest vault survives a restart: a Durable Object on local disk.
    expect(config).toContain('durableObjectStorage = (localDisk = "vault")');
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
