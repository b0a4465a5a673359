// Resident memory and CPU time of the benchmark's processes, read from /proc (Linux only).

import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/** Role → PIDs (workerd may be more than one process). */
export type ProcessRoles = Record<string, number[]>;

const TICKS_PER_SECOND = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** [ppid, comm, utime + stime in ticks] from /proc/PID/stat; null when the process is gone. */
function stat(pid: number): { ppid: number; comm: string; cpuTicks: number } | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // The command name may hold spaces and parentheses: the fields after it start at the last ')'.
  const close = text.lastIndexOf(')');
  const comm = text.slice(text.indexOf('(') + 1, close);
  const fields = text.slice(close + 2).split(' ');
  return { ppid: Number(fields[1]), comm, cpuTicks: Number(fields[11]) + Number(fields[12]) };
}

export function rssMiB(pid: number): number {
  try {
    const match = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

export function cpuMs(pid: number): number {
  const s = stat(pid);
  return s ? (s.cpuTicks * 1000) / TICKS_PER_SECOND : 0;
}

/** Descendants of `root` whose command name is `comm` (e.g. Miniflare's workerd). */
export function descendantsNamed(root: number, comm: string): number[] {
  const parents = new Map<number, { ppid: number; comm: string }>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const s = stat(Number(entry));
    if (s) parents.set(Number(entry), s);
  }
  const isBelow = (pid: number): boolean => {
    for (let p = parents.get(pid)?.ppid; p !== undefined && p > 1; p = parents.get(p)?.ppid) if (p === root) return true;
    return false;
  };
  return [...parents].filter(([pid, s]) => s.comm === comm && isBelow(pid)).map(([pid]) => pid);
}

const sum = (pids: number[], f: (pid: number) => number): number => pids.reduce((total, pid) => total + f(pid), 0);

export function rssByRole(roles: ProcessRoles): Record<string, number> {
  return Object.fromEntries(Object.entries(roles).map(([role, pids]) => [role, sum(pids, rssMiB)]));
}

export function cpuByRole(roles: ProcessRoles): Record<string, number> {
  return Object.fromEntries(Object.entries(roles).map(([role, pids]) => [role, sum(pids, cpuMs)]));
}

/** Samples RSS every `everyMs` and keeps each role's peak. */
export function peakRssSampler(roles: ProcessRoles, everyMs = 500): { stop(): Record<string, number> } {
  const peak: Record<string, number> = rssByRole(roles);
  const timer = setInterval(() => {
    for (const [role, mib] of Object.entries(rssByRole(roles))) peak[role] = Math.max(peak[role] ?? 0, mib);
  }, everyMs);
  return {
    stop() {
      clearInterval(timer);
      return peak;
    },
  };
}

/** CPU time of the whole machine (all CPUs) by kind, from the first line of /proc/stat. */
export function machineCpuMs(): { processes: number; interrupts: number; steal: number } {
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = (/^cpu\s+(.+)$/m.exec(readFileSync('/proc/stat', 'utf8'))?.[1] ?? '')
    .split(/\s+/)
    .map(Number);
  const ms = (ticks: number): number => (ticks * 1000) / TICKS_PER_SECOND;
  return { processes: ms(user + nice + system), interrupts: ms(irq + softirq), steal: ms(steal) };
}

/**
 * A process's main thread (tid = pid) from /proc/PID/task/PID/schedstat: its CPU time and its time
 * runnable but waiting for a CPU (the machine was busy), both cumulative, in ms; null when gone.
 * The kernel adds a running thread's time at its ticks (~4 ms), not continuously.
 */
export function mainThreadSched(pid: number): { cpuMs: number; queuedMs: number } | null {
  try {
    const [run, wait] = readFileSync(`/proc/${pid}/task/${pid}/schedstat`, 'utf8').split(' ');
    return { cpuMs: Number(run) / 1e6, queuedMs: Number(wait) / 1e6 };
  } catch {
    return null;
  }
}
