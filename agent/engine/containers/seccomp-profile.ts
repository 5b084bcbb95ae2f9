// The seccomp filter a container runs under: Berth's default profile (the same rules as
// Docker's default, moby's profiles/seccomp), profiles in Docker's JSON format
// (`--security-opt seccomp=FILE.json`), and their resolution, Docker's way, against the
// container's capabilities, this host's architecture and its kernel, into the plain rules
// the monitor turns into a filter with libseccomp (agent/native/seccomp.c).
import { arch as hostArch, release } from 'node:os';
import { z } from 'zod';

export const SECCOMP_ACTIONS = [
  'SCMP_ACT_KILL',
  'SCMP_ACT_KILL_PROCESS',
  'SCMP_ACT_KILL_THREAD',
  'SCMP_ACT_TRAP',
  'SCMP_ACT_ERRNO',
  'SCMP_ACT_TRACE',
  'SCMP_ACT_ALLOW',
  'SCMP_ACT_LOG',
  'SCMP_ACT_NOTIFY',
] as const;
const OPS = {
  SCMP_CMP_NE: 'ne',
  SCMP_CMP_LT: 'lt',
  SCMP_CMP_LE: 'le',
  SCMP_CMP_EQ: 'eq',
  SCMP_CMP_GE: 'ge',
  SCMP_CMP_GT: 'gt',
  SCMP_CMP_MASKED_EQ: 'masked_eq',
} as const;
const FLAGS: Record<string, string> = {
  SECCOMP_FILTER_FLAG_TSYNC: 'tsync',
  SECCOMP_FILTER_FLAG_LOG: 'log',
  SECCOMP_FILTER_FLAG_SPEC_ALLOW: 'spec_allow',
};

// JSON numbers past 2^53 arrive rounded: a filter on a value that is not the one written
// would be a different filter, so such values are refused (zod's int() takes safe integers only).
const u64 = z.number().int().nonnegative();
const names = z.array(z.string()).nullish();

// Docker's profile format (moby's seccomp.Seccomp): strict, so a misspelt key is an error
// instead of a rule that silently does not exist.
const filterSchema = z.strictObject({
  caps: names,
  arches: names,
  /** "<kernel>.<major>", e.g. "4.8". */
  minKernel: z
    .string()
    .regex(/^\d+\.\d+$/, 'expected "<kernel>.<major>"')
    .nullish(),
});
const syscallSchema = z.strictObject({
  names,
  /** Older profiles name one syscall per rule. */
  name: z.string().nullish(),
  action: z.enum(SECCOMP_ACTIONS),
  errnoRet: z.number().int().nonnegative().nullish(),
  args: z
    .array(z.strictObject({ index: z.number().int().min(0).max(5), value: u64, valueTwo: u64.nullish(), op: z.enum(Object.keys(OPS) as [keyof typeof OPS]) }))
    .nullish(),
  comment: z.string().nullish(),
  includes: filterSchema.nullish(),
  excludes: filterSchema.nullish(),
});
export const seccompProfileSchema = z.strictObject({
  defaultAction: z.union([z.enum(SECCOMP_ACTIONS), z.literal('')]).nullish(),
  defaultErrnoRet: z.number().int().nonnegative().nullish(),
  architectures: names,
  archMap: z.array(z.strictObject({ architecture: z.string(), subArchitectures: names })).nullish(),
  flags: names,
  listenerPath: z.string().nullish(),
  listenerMetadata: z.string().nullish(),
  syscalls: z.array(syscallSchema).nullish(),
});
export type SeccompProfile = z.infer<typeof seccompProfileSchema>;
type SeccompSyscall = z.infer<typeof syscallSchema>;

/** What the monitor loads (monitor.conf's seccomp= entries). */
export interface ResolvedSeccomp {
  /** allow, log, trap, kill_thread, kill_process, errno:N, trace:N */
  defaultAction: string;
  /** libseccomp's names: x86_64, x86, x32, aarch64, arm … */
  architectures: string[];
  flags: string[];
  rules: Array<{ action: string; names: string[]; args: string[] }>;
}

const words = (s: string) => s.split(/\s+/).filter(Boolean);
const allow = (list: string, more: Partial<SeccompSyscall> = {}): SeccompSyscall => ({ names: words(list), action: 'SCMP_ACT_ALLOW', ...more });
const argEq = (value: number) => [{ index: 0, value, op: 'SCMP_CMP_EQ' as const }];
const AF_ALG = 38;
const AF_VSOCK = 40;
const NS_FLAGS = 0x7e020000; // CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET

/**
 * Docker's default: everything a container normally needs, and the calls that reach past
 * its namespaces only with the capability that guards them (mount and unshare with
 * CAP_SYS_ADMIN, ptrace with CAP_SYS_PTRACE …). Denied calls fail with EPERM.
 */
export const DEFAULT_SECCOMP_PROFILE: SeccompProfile = {
  defaultAction: 'SCMP_ACT_ERRNO',
  defaultErrnoRet: 1,
  archMap: [
    { architecture: 'SCMP_ARCH_X86_64', subArchitectures: ['SCMP_ARCH_X86', 'SCMP_ARCH_X32'] },
    { architecture: 'SCMP_ARCH_AARCH64', subArchitectures: ['SCMP_ARCH_ARM'] },
    { architecture: 'SCMP_ARCH_MIPS64', subArchitectures: ['SCMP_ARCH_MIPS', 'SCMP_ARCH_MIPS64N32'] },
    { architecture: 'SCMP_ARCH_MIPS64N32', subArchitectures: ['SCMP_ARCH_MIPS', 'SCMP_ARCH_MIPS64'] },
    { architecture: 'SCMP_ARCH_MIPSEL64', subArchitectures: ['SCMP_ARCH_MIPSEL', 'SCMP_ARCH_MIPSEL64N32'] },
    { architecture: 'SCMP_ARCH_MIPSEL64N32', subArchitectures: ['SCMP_ARCH_MIPSEL', 'SCMP_ARCH_MIPSEL64'] },
    { architecture: 'SCMP_ARCH_S390X', subArchitectures: ['SCMP_ARCH_S390'] },
    { architecture: 'SCMP_ARCH_RISCV64', subArchitectures: null },
    { architecture: 'SCMP_ARCH_LOONGARCH64', subArchitectures: null },
  ],
  syscalls: [
    allow(`
      accept accept4 access adjtimex alarm bind brk cachestat capget capset chdir chmod chown chown32
      clock_adjtime clock_adjtime64 clock_getres clock_getres_time64 clock_gettime clock_gettime64
      clock_nanosleep clock_nanosleep_time64 close close_range connect copy_file_range creat dup dup2
      dup3 epoll_create epoll_create1 epoll_ctl epoll_ctl_old epoll_pwait epoll_pwait2 epoll_wait
      epoll_wait_old eventfd eventfd2 execve execveat exit exit_group faccessat faccessat2 fadvise64
      fadvise64_64 fallocate fanotify_mark fchdir fchmod fchmodat fchmodat2 fchown fchown32 fchownat
      fcntl fcntl64 fdatasync fgetxattr flistxattr flock fork fremovexattr fsetxattr fstat fstat64
      fstatat64 fstatfs fstatfs64 fsync ftruncate ftruncate64 futex futex_requeue futex_time64
      futex_wait futex_waitv futex_wake futimesat getcpu getcwd getdents getdents64 getegid getegid32
      geteuid geteuid32 getgid getgid32 getgroups getgroups32 getitimer getpeername getpgid getpgrp
      getpid getppid getpriority getrandom getresgid getresgid32 getresuid getresuid32 getrlimit
      get_robust_list getrusage getsid getsockname getsockopt get_thread_area gettid gettimeofday
      getuid getuid32 getxattr getxattrat inotify_add_watch inotify_init inotify_init1
      inotify_rm_watch io_cancel ioctl io_destroy io_getevents io_pgetevents io_pgetevents_time64
      ioprio_get ioprio_set io_setup io_submit ipc kill landlock_add_rule landlock_create_ruleset
      landlock_restrict_self lchown lchown32 lgetxattr link linkat listen listmount listxattr
      listxattrat llistxattr _llseek lremovexattr lseek lsetxattr lstat lstat64 madvise
      map_shadow_stack membarrier memfd_create memfd_secret mincore mkdir mkdirat mknod mknodat mlock
      mlock2 mlockall mmap mmap2 mprotect mq_getsetattr mq_notify mq_open mq_timedreceive
      mq_timedreceive_time64 mq_timedsend mq_timedsend_time64 mq_unlink mremap mseal msgctl msgget
      msgrcv msgsnd msync munlock munlockall munmap name_to_handle_at nanosleep newfstatat _newselect
      open openat openat2 pause pidfd_open pidfd_send_signal pipe pipe2 pkey_alloc pkey_free
      pkey_mprotect poll ppoll ppoll_time64 prctl pread64 preadv preadv2 prlimit64 process_mrelease
      pselect6 pselect6_time64 pwrite64 pwritev pwritev2 read readahead readlink readlinkat readv recv
      recvfrom recvmmsg recvmmsg_time64 recvmsg remap_file_pages removexattr removexattrat rename
      renameat renameat2 restart_syscall riscv_hwprobe rmdir rseq rt_sigaction rt_sigpending
      rt_sigprocmask rt_sigqueueinfo rt_sigreturn rt_sigsuspend rt_sigtimedwait rt_sigtimedwait_time64
      rt_tgsigqueueinfo sched_getaffinity sched_getattr sched_getparam sched_get_priority_max
      sched_get_priority_min sched_getscheduler sched_rr_get_interval sched_rr_get_interval_time64
      sched_setaffinity sched_setattr sched_setparam sched_setscheduler sched_yield seccomp select
      semctl semget semop semtimedop semtimedop_time64 send sendfile sendfile64 sendmmsg sendmsg sendto
      setfsgid setfsgid32 setfsuid setfsuid32 setgid setgid32 setgroups setgroups32 setitimer setpgid
      setpriority setregid setregid32 setresgid setresgid32 setresuid setresuid32 setreuid setreuid32
      setrlimit set_robust_list setsid setsockopt set_thread_area set_tid_address setuid setuid32
      setxattr setxattrat shmat shmctl shmdt shmget shutdown sigaltstack signalfd signalfd4 sigprocmask
      sigreturn socketcall socketpair splice stat stat64 statfs statfs64 statmount statx symlink
      symlinkat sync sync_file_range syncfs sysinfo tee tgkill time timer_create timer_delete
      timer_getoverrun timer_gettime timer_gettime64 timer_settime timer_settime64 timerfd_create
      timerfd_gettime timerfd_gettime64 timerfd_settime timerfd_settime64 times tkill truncate
      truncate64 ugetrlimit umask uname unlink unlinkat uretprobe utime utimensat utimensat_time64
      utimes vfork vmsplice wait4 waitid waitpid write writev`),
    // Before 4.8 ptrace could be used to get around seccomp itself.
    allow('process_vm_readv process_vm_writev ptrace', { includes: { minKernel: '4.8' } }),
    // Every address family but AF_ALG (kernel crypto) and AF_VSOCK (the hypervisor's sockets).
    allow('socket', { args: [{ index: 0, value: AF_ALG, op: 'SCMP_CMP_LT' }] }),
    allow('socket', { args: argEq(AF_ALG + 1) }),
    allow('socket', { args: [{ index: 0, value: AF_VSOCK, op: 'SCMP_CMP_GT' }] }),
    // The personalities programs ask for (Linux, 32-bit, ADDR_NO_RANDOMIZE, both, and the query).
    ...[0x0, 0x0008, 0x20000, 0x20008, 0xffffffff].map((v) => allow('personality', { args: argEq(v) })),
    allow('sync_file_range2 swapcontext', { includes: { arches: ['ppc64le'] } }),
    allow('arm_fadvise64_64 arm_sync_file_range sync_file_range2 breakpoint cacheflush set_tls', { includes: { arches: ['arm', 'arm64'] } }),
    allow('arch_prctl', { includes: { arches: ['amd64', 'x32'] } }),
    allow('modify_ldt', { includes: { arches: ['amd64', 'x32', 'x86'] } }),
    allow('s390_pci_mmio_read s390_pci_mmio_write s390_runtime_instr', { includes: { arches: ['s390', 's390x'] } }),
    allow('riscv_flush_icache', { includes: { arches: ['riscv64'] } }),
    allow('open_by_handle_at', { includes: { caps: ['CAP_DAC_READ_SEARCH'] } }),
    allow(
      `bpf clone clone3 fanotify_init fsconfig fsmount fsopen fspick lookup_dcookie lsm_get_self_attr
       lsm_list_modules lsm_set_self_attr mount mount_setattr move_mount open_tree perf_event_open
       quotactl quotactl_fd setdomainname sethostname setns syslog umount umount2 unshare`,
      { includes: { caps: ['CAP_SYS_ADMIN'] } },
    ),
    // Without CAP_SYS_ADMIN: threads and processes, never new namespaces.
    allow('clone', { args: [{ index: 0, value: NS_FLAGS, op: 'SCMP_CMP_MASKED_EQ' }], excludes: { caps: ['CAP_SYS_ADMIN'], arches: ['s390', 's390x'] } }),
    allow('clone', {
      args: [{ index: 1, value: NS_FLAGS, op: 'SCMP_CMP_MASKED_EQ' }],
      comment: 's390 parameter ordering for clone is different',
      includes: { arches: ['s390', 's390x'] },
      excludes: { caps: ['CAP_SYS_ADMIN'] },
    }),
    // clone3's flags are behind a pointer a filter cannot read: ENOSYS makes libc fall back to clone.
    { names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: 38, excludes: { caps: ['CAP_SYS_ADMIN'] } },
    allow('reboot', { includes: { caps: ['CAP_SYS_BOOT'] } }),
    allow('chroot', { includes: { caps: ['CAP_SYS_CHROOT'] } }),
    allow('delete_module init_module finit_module', { includes: { caps: ['CAP_SYS_MODULE'] } }),
    allow('acct', { includes: { caps: ['CAP_SYS_PACCT'] } }),
    allow('kcmp pidfd_getfd process_madvise process_vm_readv process_vm_writev ptrace', { includes: { caps: ['CAP_SYS_PTRACE'] } }),
    allow('iopl ioperm', { includes: { caps: ['CAP_SYS_RAWIO'] } }),
    allow('settimeofday stime clock_settime clock_settime64', { includes: { caps: ['CAP_SYS_TIME'] } }),
    allow('vhangup', { includes: { caps: ['CAP_SYS_TTY_CONFIG'] } }),
    allow('get_mempolicy mbind set_mempolicy set_mempolicy_home_node', { includes: { caps: ['CAP_SYS_NICE'] } }),
    allow('syslog', { includes: { caps: ['CAP_SYSLOG'] } }),
    allow('bpf', { includes: { caps: ['CAP_BPF'] } }),
    allow('perf_event_open', { includes: { caps: ['CAP_PERFMON'] } }),
  ],
};

export class SeccompProfileError extends Error {}

/** A profile as a user wrote it (Docker's JSON format); errors name the place. */
export function parseSeccompProfile(json: string): SeccompProfile {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch (e) {
    throw new SeccompProfileError(`Decoding seccomp profile failed: ${(e as Error).message}`);
  }
  const r = seccompProfileSchema.safeParse(raw);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const where = issue.path.map(String).join('.');
  if (issue.code === 'unrecognized_keys') throw new SeccompProfileError(`seccomp profile: ${where ? where + ': ' : ''}unknown field ${issue.keys.map((k) => `"${k}"`).join(', ')}`);
  throw new SeccompProfileError(`seccomp profile: ${where || 'profile'}: ${issue.message}`);
}

/** Go's GOARCH names, which profiles' "arches" conditions use, from Node's. */
const GOARCH: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: 'x86', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64', loong64: 'loong64', mips: 'mipsle', mipsel: 'mipsle' };
/** libseccomp's architecture for a GOARCH name (moby's nativeToSeccomp). */
const NATIVE_SCMP: Record<string, string> = {
  x86: 'SCMP_ARCH_X86',
  amd64: 'SCMP_ARCH_X86_64',
  arm: 'SCMP_ARCH_ARM',
  arm64: 'SCMP_ARCH_AARCH64',
  loong64: 'SCMP_ARCH_LOONGARCH64',
  mipsle: 'SCMP_ARCH_MIPSEL',
  ppc64le: 'SCMP_ARCH_PPC64LE',
  riscv64: 'SCMP_ARCH_RISCV64',
  s390x: 'SCMP_ARCH_S390X',
};

export interface SeccompHost {
  /** GOARCH spelling: amd64, arm64 … */
  arch: string;
  /** [kernel, major], e.g. [6, 1]. */
  kernel: [number, number];
}

export function thisHost(): SeccompHost {
  const [k, m] = release().split(/[.-]/).map(Number);
  return { arch: GOARCH[hostArch()] ?? hostArch(), kernel: [k || 0, m || 0] };
}

function monitorAction(action: string, errnoRet: number | null | undefined, where: string): string {
  const ret = errnoRet ?? undefined;
  if (ret !== undefined && action !== 'SCMP_ACT_ERRNO' && action !== 'SCMP_ACT_TRACE')
    throw new SeccompProfileError(`seccomp profile: ${where}: errnoRet applies only to SCMP_ACT_ERRNO and SCMP_ACT_TRACE`);
  switch (action) {
    case 'SCMP_ACT_KILL':
    case 'SCMP_ACT_KILL_THREAD':
      return 'kill_thread';
    case 'SCMP_ACT_KILL_PROCESS':
      return 'kill_process';
    case 'SCMP_ACT_TRAP':
      return 'trap';
    case 'SCMP_ACT_ALLOW':
      return 'allow';
    case 'SCMP_ACT_LOG':
      return 'log';
    // runc's default for both: EPERM.
    case 'SCMP_ACT_ERRNO':
      if ((ret ?? 1) > 4095) throw new SeccompProfileError(`seccomp profile: ${where}: errnoRet ${ret} is not an errno`);
      return `errno:${ret ?? 1}`;
    case 'SCMP_ACT_TRACE':
      if ((ret ?? 1) > 65535) throw new SeccompProfileError(`seccomp profile: ${where}: errnoRet ${ret} is out of range for SCMP_ACT_TRACE`);
      return `trace:${ret ?? 1}`;
    case 'SCMP_ACT_NOTIFY':
      throw new SeccompProfileError(`seccomp profile: ${where}: Berth does not support SCMP_ACT_NOTIFY (a seccomp agent behind listenerPath) yet`);
  }
  throw new SeccompProfileError(`seccomp profile: ${where}: unknown action ${action}`);
}

function monitorArch(a: string): string {
  if (!/^SCMP_ARCH_[A-Z0-9_]+$/.test(a)) throw new SeccompProfileError(`seccomp profile: unknown architecture ${JSON.stringify(a)}`);
  return a.slice('SCMP_ARCH_'.length).toLowerCase();
}

const atLeast = (k: [number, number], v: string) => {
  const [a, b] = v.split('.').map(Number);
  return k[0] > a || (k[0] === a && k[1] >= b);
};

/**
 * The rules that apply to this container, as moby's setupSeccomp picks them: a rule's
 * includes must all hold (every listed capability in the container's bounding set, this
 * architecture among its arches, the kernel at least minKernel) and none of its excludes
 * (any listed capability, this architecture, or a kernel at least minKernel). `undefined`
 * for a profile with neither a default action nor rules, which Docker runs unconfined.
 */
export function resolveSeccomp(profile: SeccompProfile, caps: string[], host: SeccompHost = thisHost()): ResolvedSeccomp | undefined {
  const syscalls = profile.syscalls ?? [];
  if (!profile.defaultAction && syscalls.length === 0) return undefined;
  if (!profile.defaultAction) throw new SeccompProfileError('seccomp profile: defaultAction is required when there are syscalls');
  if (profile.architectures?.length && profile.archMap?.length)
    throw new SeccompProfileError("both 'architectures' and 'archMap' are specified in the seccomp profile, use either 'architectures' or 'archMap'");
  if (profile.listenerPath) throw new SeccompProfileError('seccomp profile: Berth does not support listenerPath (a seccomp agent) yet');
  let arches = profile.architectures ?? [];
  if (profile.archMap?.length) {
    const native = NATIVE_SCMP[host.arch];
    const entry = profile.archMap.find((a) => a.architecture === native);
    arches = entry ? [entry.architecture, ...(entry.subArchitectures ?? [])] : [];
  }
  const flags = (profile.flags ?? []).map((f) => {
    const m = FLAGS[f];
    if (!m) throw new SeccompProfileError(`seccomp profile: Berth does not support the flag ${f}`);
    return m;
  });
  const has = new Set(caps);
  const rules: ResolvedSeccomp['rules'] = [];
  syscalls.forEach((call, i) => {
    const where = `syscalls.${i}`;
    if (call.name && call.names?.length) throw new SeccompProfileError("both 'name' and 'names' are specified in the seccomp profile, use either 'name' or 'names'");
    const list = call.name ? [call.name] : (call.names ?? []);
    const ex = call.excludes;
    if (ex) {
      if (ex.arches?.includes(host.arch)) return;
      if (ex.caps?.some((c) => has.has(c))) return;
      if (ex.minKernel && atLeast(host.kernel, ex.minKernel)) return;
    }
    const inc = call.includes;
    if (inc) {
      if (inc.arches?.length && !inc.arches.includes(host.arch)) return;
      if (inc.caps?.some((c) => !has.has(c))) return;
      if (inc.minKernel && !atLeast(host.kernel, inc.minKernel)) return;
    }
    const action = monitorAction(call.action, call.errnoRet, where);
    if (!list.length) return;
    for (const n of list) if (!/^[a-z0-9_]+$/.test(n)) throw new SeccompProfileError(`seccomp profile: ${where}: ${JSON.stringify(n)} is not a syscall name`);
    const args = (call.args ?? []).map((a) => [a.index, OPS[a.op], a.value, ...(a.valueTwo ? [a.valueTwo] : [])].join(':'));
    rules.push({ action, names: list, args });
  });
  return {
    defaultAction: monitorAction(profile.defaultAction, profile.defaultErrnoRet, 'defaultAction'),
    architectures: arches.map(monitorArch),
    flags,
    rules,
  };
}

/** monitor.conf entries for a resolved filter (agent/native/config.c); `cache`: where the monitor keeps it compiled. */
export function seccompEntries(s: ResolvedSeccomp | undefined, cache?: string): string[] {
  if (!s) return [];
  const out = [
    `seccomp=${s.defaultAction}`,
    ...(cache ? [`seccomp.cache=${cache}`] : []),
    ...s.architectures.map((a) => `seccomp.arch=${a}`),
    ...s.flags.map((f) => `seccomp.flag=${f}`),
  ];
  for (const r of s.rules) out.push(`seccomp.rule=${r.action}`, ...r.names.map((n) => `seccomp.syscall=${n}`), ...r.args.map((a) => `seccomp.arg=${a}`));
  return out;
}
