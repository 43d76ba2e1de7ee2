import { readdirSync, readFileSync, readlinkSync } from "node:fs";

/**
 * Linux /proc readers: the process tree under the stack we started, resident memory (VmRSS) and
 * CPU time per process. Everything here is best effort: a process may vanish between two reads.
 */

export type ProcInfo = { pid: number; ppid: number; pgid: number; comm: string; cmdline: string };

/** Clock ticks per second for /proc/<pid>/stat times; 100 on every Linux we run on. */
const CLK_TCK = 100;

function readStat(pid: number): { ppid: number; pgid: number; comm: string; cpuMs: number } | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  // comm is in parentheses and may contain spaces or parentheses: split after the last ")".
  const close = text.lastIndexOf(")");
  const comm = text.slice(text.indexOf("(") + 1, close);
  const rest = text.slice(close + 2).split(" ");
  // rest[0] is field 3 (state): ppid is field 4, pgrp 5, utime 14, stime 15.
  const ppid = Number(rest[1]);
  const pgid = Number(rest[2]);
  const cpuTicks = Number(rest[11]) + Number(rest[12]);
  return { ppid, pgid, comm, cpuMs: (cpuTicks * 1000) / CLK_TCK };
}

function cmdlineOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean).join(" ");
  } catch {
    return "";
  }
}

/** Every live process below `root` (not `root` itself), parents before children. */
export function descendants(root: number): ProcInfo[] {
  const byParent = new Map<number, ProcInfo[]>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    const stat = readStat(pid);
    if (!stat) continue;
    const info: ProcInfo = { pid, ppid: stat.ppid, pgid: stat.pgid, comm: stat.comm, cmdline: "" };
    let list = byParent.get(stat.ppid);
    if (!list) {
      list = [];
      byParent.set(stat.ppid, list);
    }
    list.push(info);
  }
  const out: ProcInfo[] = [];
  const walk = (pid: number) => {
    for (const child of byParent.get(pid) ?? []) {
      child.cmdline = cmdlineOf(child.pid);
      out.push(child);
      walk(child.pid);
    }
  };
  walk(root);
  return out;
}

/** Resident set size in KiB, from /proc/<pid>/status VmRSS; undefined if the process is gone. */
export function rssKb(pid: number): number | undefined {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** User + system CPU time in ms; undefined if the process is gone. */
export function cpuMs(pid: number): number | undefined {
  return readStat(pid)?.cpuMs;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

export function groupIsGone(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "ESRCH";
  }
}

export function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // already gone
  }
}

export type FdStats = { sockets: number; files: number; other: number; limit: number | undefined };

/** Open file descriptors of a process by kind, and its soft RLIMIT_NOFILE; undefined if gone. */
export function fdStats(pid: number): FdStats | undefined {
  let entries: string[];
  try {
    entries = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return undefined;
  }
  const out: FdStats = { sockets: 0, files: 0, other: 0, limit: undefined };
  for (const fd of entries) {
    let target: string;
    try {
      target = readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      continue;
    }
    if (target.startsWith("socket:")) out.sockets++;
    else if (target.startsWith("/")) out.files++;
    else out.other++;
  }
  try {
    const m = /^Max open files\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/limits`, "utf8"));
    if (m) out.limit = Number(m[1]);
  } catch {
    // gone
  }
  return out;
}

/** Listening TCP ports of a process, from /proc (no ss/lsof needed). */
export function listeningPorts(pid: number): number[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]!);
    } catch {
      // closed meanwhile
    }
  }
  const ports: number[] = [];
  for (const line of readFileSync("/proc/net/tcp", "utf8").split("\n").slice(1)) {
    const cols = line.trim().split(/\s+/);
    if (cols[3] !== "0A" || !inodes.has(cols[9] ?? "")) continue;
    ports.push(Number.parseInt(cols[1]!.split(":")[1]!, 16));
  }
  return ports;
}
