/**
 * CPU time per process, read from /proc, for the processes this benchmark runs: its own process
 * and every descendant (SecantusDB, Redis), plus the daemonized Dovecot master and its children.
 * Diagnostic only: on a platform without /proc every figure is simply absent.
 */
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';

interface ProcEntry {
  pid: number;
  ppid: number;
  comm: string;
  ticks: number;
}

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

function readProcs(): ProcEntry[] {
  const out: ProcEntry[] = [];
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return out;
  }
  for (const p of pids) {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      const comm = stat.slice(stat.indexOf('(') + 1, close);
      const fields = stat.slice(close + 2).split(' ');
      // fields[0] = state (field 3); ppid is field 4, utime 14, stime 15
      out.push({
        pid: Number(p),
        ppid: Number(fields[1]),
        comm,
        ticks: Number(fields[11]) + Number(fields[12]),
      });
    } catch {
      /* exited meanwhile */
    }
  }
  return out;
}

export type CpuSnapshot = {
  at: number;
  procs: Map<number, ProcEntry>;
  systemBusy: number;
  systemTotal: number;
};

function systemTicks(): { busy: number; total: number } {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
    const v = line.trim().split(/\s+/).slice(1).map(Number);
    const total = v.reduce((a, b) => a + b, 0);
    const idle = (v[3] ?? 0) + (v[4] ?? 0);
    return { busy: total - idle, total };
  } catch {
    return { busy: 0, total: 0 };
  }
}

/** Processes descending from any of `roots` (roots included). */
export function cpuSnapshot(roots: number[]): CpuSnapshot {
  const all = readProcs();
  const children = new Map<number, ProcEntry[]>();
  for (const e of all) {
    const list = children.get(e.ppid) ?? [];
    list.push(e);
    children.set(e.ppid, list);
  }
  const byPid = new Map(all.map((e) => [e.pid, e]));
  const procs = new Map<number, ProcEntry>();
  const stack = roots.filter((r) => byPid.has(r));
  while (stack.length > 0) {
    const pid = stack.pop()!;
    if (procs.has(pid)) continue;
    procs.set(pid, byPid.get(pid)!);
    for (const c of children.get(pid) ?? []) stack.push(c.pid);
  }
  const sys = systemTicks();
  return { at: Date.now(), procs, systemBusy: sys.busy, systemTotal: sys.total };
}

/** CPU seconds spent between two snapshots, by process name, plus machine-wide utilisation. */
export function cpuBetween(a: CpuSnapshot, b: CpuSnapshot, self: number) {
  const byName: Record<string, number> = {};
  for (const [pid, e] of b.procs) {
    const before = a.procs.get(pid)?.ticks ?? 0;
    const name = pid === self ? 'node (bench + incidesk)' : e.comm;
    byName[name] = (byName[name] ?? 0) + (e.ticks - before) / TICKS_PER_SECOND;
  }
  const wall = (b.at - a.at) / 1000;
  const cores = os.cpus().length;
  const sysTotal = b.systemTotal - a.systemTotal;
  return {
    wallSeconds: wall,
    cpuSeconds: Object.fromEntries(
      Object.entries(byName)
        .filter(([, s]) => s > 0)
        .sort((x, y) => y[1] - x[1])
        .map(([k, s]) => [k, Math.round(s * 100) / 100]),
    ),
    /** Whole machine (every process, ours or not), as a share of all cores. */
    machineBusyPct:
      sysTotal > 0 ? Math.round(((b.systemBusy - a.systemBusy) / sysTotal) * 1000) / 10 : undefined,
    cores,
  };
}
