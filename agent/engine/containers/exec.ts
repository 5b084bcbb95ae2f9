// `docker exec`: a command in a running container's namespaces and cgroups. The helper
// (berth-monitor exec) joins the init by the pidfd its monitor hands over, so a pid that
// was reused can never be joined; the checks here only answer early.
import type { ChildProcess, ChildProcessWithoutNullStreams } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { ContainerRecord } from '../../../protocol/container';
import type { Cgroups } from '../cgroups';
import { badRequest, conflict } from '../errors';
import type { ExecOptions } from '../types';
import { MonitorRun, spawnExec, type ExecConfig, type ExecStdio, type TtySize } from './monitor';
import type { ContainerRecords } from './records';
import { agentCapabilities, processSecurity, seccompCacheDir } from './security';
import { mergeEnv } from './spec';

export interface ExecProcessOptions extends ExecOptions {
  tty?: boolean;
  ttySize?: TtySize;
}

/** The running container's record; 409 when it is not running (or has just exited). */
export function runningRecord(records: ContainerRecords, idOrName: string): ContainerRecord {
  const rec = records.resolve(idOrName);
  if (rec.state.status === 'restarting') throw conflict(`Container ${rec.id} is restarting, wait until the container is running`);
  // A process joining a frozen cgroup would freeze with it, and the exec never answer.
  if (rec.state.paused) throw conflict(`Container ${rec.id} is paused, unpause the container before exec`);
  // The record may not have caught up with an exit yet, and the pid may then name another process.
  if (!rec.state.running || !rec.state.pid || new MonitorRun(records.runDir(rec.id)).exit()) throw conflict(`Container ${rec.id} is not running`);
  return rec;
}

/** Docker's exec environment: the container's, its HOSTNAME, TERM=xterm for a TTY, then the exec's own. */
export function execEnv(rec: ContainerRecord, tty: boolean, extra: string[]): string[] {
  const base = [...rec.spec.process.env];
  if (!base.some((e) => e.startsWith('HOSTNAME='))) base.push(`HOSTNAME=${rec.spec.network.hostname}`);
  if (tty && !base.some((e) => e.startsWith('TERM='))) base.push('TERM=xterm');
  return mergeEnv(base, extra);
}

function execConfig(records: ContainerRecords, cgroups: Cgroups, rec: ContainerRecord, opts: ExecProcessOptions): ExecConfig {
  if (!opts.cmd.length) throw badRequest('No exec command specified');
  const p = rec.spec.process;
  // The container's own capabilities, seccomp filter, no_new_privs and rlimits, as Docker's exec inherits them.
  const iso = processSecurity(rec.spec, cgroups.confinesDevices, seccompCacheDir(records.store.dir));
  return {
    user: opts.user || p.user,
    cwd: opts.workingDir || p.workingDir || '/',
    env: execEnv(rec, !!opts.tty, opts.env ?? []),
    argv: opts.cmd,
    cgroups: cgroups.initPaths(rec.id),
    caps: opts.privileged ? agentCapabilities() : iso.caps,
    oomScoreAdj: 0,
    security: iso.monitor,
    tty: opts.tty,
    ttySize: opts.ttySize,
    groupAdd: p.groupAdd,
  };
}

/** Starts the helper for an exec of the running container `rec`; stdio as `io` says (stdio[3] takes sizes with a TTY). */
export function spawnExecProcess(records: ContainerRecords, cgroups: Cgroups, rec: ContainerRecord, opts: ExecProcessOptions, io: ExecStdio): ChildProcess {
  return spawnExec(records.dir(rec.id), records.runDir(rec.id), execConfig(records, cgroups, rec, opts), io);
}

/** The process's stdio are pipes; its exit code is the command's (126/127 when it cannot run). */
export function execIn(records: ContainerRecords, cgroups: Cgroups, idOrName: string, opts: ExecOptions): ChildProcessWithoutNullStreams {
  const rec = runningRecord(records, idOrName);
  return spawnExec(records.dir(rec.id), records.runDir(rec.id), execConfig(records, cgroups, rec, opts)) as ChildProcessWithoutNullStreams;
}

/** Ends an exec for good: the monitor passes on only catchable signals, so its child (the
 *  command, a host pid) gets the SIGKILL itself; the monitor then exits with it. */
export function killExec(p: ChildProcessWithoutNullStreams): void {
  if (!p.pid || p.exitCode !== null || p.signalCode !== null) return;
  let children: number[] = [];
  try {
    children = readFileSync(`/proc/${p.pid}/task/${p.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    // gone already, or not forked yet: the monitor itself goes below
  }
  if (!children.length) {
    p.kill('SIGKILL');
    return;
  }
  for (const c of children) {
    try {
      process.kill(c, 'SIGKILL');
    } catch {
      // exited meanwhile
    }
  }
}
