// Facts about the machine and the code a result was measured on, stored beside the numbers.

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism, loadavg, release, totalmem } from 'node:os';

export interface MachineFacts {
  date: string;
  nproc: number;
  cpuModel: string;
  totalMemoryMiB: number;
  loadAverage1m: number;
  kernel: string;
  node: string;
  workerd: string;
  miniflare: string;
}

function packageVersion(name: string): string {
  try {
    const url = new URL(`../node_modules/${name}/package.json`, import.meta.url);
    return (JSON.parse(readFileSync(url, 'utf8')) as { version?: string }).version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

function cpuModel(): string {
  try {
    return /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim() ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

export function machineFacts(): MachineFacts {
  return {
    date: new Date().toISOString(),
    nproc: availableParallelism(),
    cpuModel: cpuModel(),
    totalMemoryMiB: Math.round(totalmem() / 2 ** 20),
    loadAverage1m: loadavg()[0] ?? 0,
    kernel: release(),
    node: process.version,
    workerd: packageVersion('workerd'),
    miniflare: packageVersion('miniflare'),
  };
}

export interface CodeFacts {
  gitHead: string;
  /** Files under edge/ or shared/ that differ from HEAD (the numbers are for the working tree). */
  uncommittedEdgeFiles: number;
}

export function codeFacts(): CodeFacts {
  const git = (...args: string[]): string => {
    try {
      return execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    } catch {
      return '';
    }
  };
  const changed = git('status', '--porcelain', '--', 'edge', 'shared');
  return { gitHead: git('rev-parse', '--short', 'HEAD') || 'unknown', uncommittedEdgeFiles: changed ? changed.split('\n').length : 0 };
}
