// A container as every part of Berth speaks of it: the spec a caller asks for (the Docker
// API face maps its create body into it, the dashboard's run form builds it, the link
// carries it), the record the engine keeps, and the log lines it prints. Pure data and
// zod, no Node imports, so the browser bundle can use it too.
//
// The spec is strict: a key the engine does not know is refused with its name, never
// dropped. A new capability adds its field to one section here, one mapper in the Docker
// face, and the engine code that honours it.
import { z } from 'zod';

const strings = z.array(z.string());

export const NETWORK_MODES = ['default', 'host', 'none'] as const;
export type NetworkMode = (typeof NETWORK_MODES)[number];

/** Docker's restart policies: what the engine does when a container's init exits on its own. */
export const RESTART_POLICIES = ['no', 'always', 'unless-stopped', 'on-failure'] as const;
export type RestartPolicyName = (typeof RESTART_POLICIES)[number];

export type HealthStatus = 'starting' | 'healthy' | 'unhealthy';

/** Nanoseconds, as Docker's HealthConfig has them; 0 = Docker's default. */
const duration = z.number().int().nonnegative();

export const containerSpecSchema = z.strictObject({
  /** Without Docker's leading slash; generated when absent. */
  name: z.string().optional(),
  /** An image reference or id. */
  image: z.string().min(1, 'an image is required'),
  labels: z.record(z.string(), z.string()).optional(),
  process: z
    .strictObject({
      /** Overrides the image's Cmd. */
      cmd: strings.optional(),
      /** Overrides the image's Entrypoint ([] clears it, and with it the image's Cmd). */
      entrypoint: strings.optional(),
      /** "KEY=value" merged over the image's Env; "KEY" alone removes KEY. */
      env: strings.optional(),
      workingDir: z.string().optional(),
      /** "user", "uid", "user:group" or "uid:gid", looked up in the container's /etc files. */
      user: z.string().optional(),
      tty: z.boolean().optional(),
    })
    .optional(),
  resources: z
    .strictObject({
      /** Bytes; 0 = unlimited. */
      memory: z.number().int().nonnegative().optional(),
      /** Bytes of memory+swap; -1 = unlimited swap, 0 = twice the memory limit (Docker's default). */
      memorySwap: z.number().int().min(-1).optional(),
      nanoCpus: z.number().int().nonnegative().optional(),
      cpuShares: z.number().int().nonnegative().optional(),
      /** 0 or negative = unlimited. */
      pidsLimit: z.number().int().optional(),
    })
    .optional(),
  network: z
    .strictObject({
      /** default: a network namespace of its own (loopback only for now); host: the host's; none: loopback only. */
      mode: z.enum(NETWORK_MODES).optional(),
      hostname: z.string().max(63, 'a hostname has at most 63 characters').optional(),
    })
    .optional(),
  restart: z
    .strictObject({
      /** Remove the container once it has stopped (`docker run --rm`); conflicts with a restart policy. */
      autoRemove: z.boolean().optional(),
      /** What to do when the init exits on its own; default 'no'. */
      policy: z.enum(RESTART_POLICIES).optional(),
      /** on-failure only: give up after this many restarts (0 or absent = never). */
      maxRetries: z.number().int().nonnegative().optional(),
    })
    .optional(),
  /** Merged field by field over the image's HEALTHCHECK, as Docker merges them. */
  health: z
    .strictObject({
      /** ["CMD", arg…], ["CMD-SHELL", "command"] or ["NONE"] (no healthcheck, not even the image's). */
      test: strings.optional(),
      /** Between the end of a probe and the start of the next; default 30 s. */
      intervalNs: duration.optional(),
      /** A probe running longer fails; default 30 s. */
      timeoutNs: duration.optional(),
      /** Failures in this time after start do not count (until the first success); default 0. */
      startPeriodNs: duration.optional(),
      /** The interval during the start period; default 5 s. */
      startIntervalNs: duration.optional(),
      /** Failures in a row that make the container unhealthy; default 3. */
      retries: z.number().int().nonnegative().optional(),
    })
    .optional(),
});

export type ContainerSpec = z.infer<typeof containerSpecSchema>;

/** A spec as the engine resolved it against the image: every field has its value. */
export interface ResolvedSpec {
  labels: Record<string, string>;
  process: { cmd: string[]; entrypoint: string[]; env: string[]; workingDir: string; user: string; tty: boolean };
  resources: { memory: number; memorySwap: number; nanoCpus: number; cpuShares: number; pidsLimit: number };
  network: { mode: NetworkMode; hostname: string };
  restart: { autoRemove: boolean; policy: RestartPolicyName; maxRetries: number };
  /** The healthcheck after merging with the image's (durations 0 = Docker's default); null: none. */
  health: ResolvedHealth | null;
}

export interface ResolvedHealth {
  /** ["CMD", …] or ["CMD-SHELL", command]. */
  test: string[];
  intervalNs: number;
  timeoutNs: number;
  startPeriodNs: number;
  startIntervalNs: number;
  retries: number;
}

/** One probe, as Docker's State.Health.Log keeps it (the last five). */
export interface HealthLogEntry {
  /** RFC 3339 with nanoseconds. */
  start: string;
  end: string;
  /** -1 when the probe could not run or timed out. */
  exitCode: number;
  /** At most 4096 bytes of stdout and stderr, "..." appended when cut. */
  output: string;
}

export interface HealthState {
  status: HealthStatus;
  failingStreak: number;
  log: HealthLogEntry[];
}

export type ContainerStatus = 'created' | 'running' | 'paused' | 'restarting' | 'removing' | 'exited' | 'dead';

export interface ContainerState {
  status: ContainerStatus;
  running: boolean;
  paused: boolean;
  /** Host pid of the container's init (0 when not running). */
  pid: number;
  exitCode: number;
  /** RFC 3339; "0001-01-01T00:00:00Z" when never. */
  startedAt: string;
  finishedAt: string;
  error: string;
  oomKilled: boolean;
  /** Only for a container with a healthcheck that has been started. */
  health?: HealthState;
}

export interface ContainerRecord {
  /** 64 lowercase hex digits. */
  id: string;
  /** Without Docker's leading slash. */
  name: string;
  /** RFC 3339 with nanoseconds. */
  created: string;
  /** The reference as the user gave it. */
  image: string;
  imageId: string;
  spec: ResolvedSpec;
  state: ContainerState;
  /** Restarts by the restart policy since the last start by a user. */
  restartCount: number;
  /** Stopped or killed by a user since its last start (Docker's HasBeenManuallyStopped): unless-stopped does not restart it. */
  manuallyStopped?: boolean;
  /** Docker json-file log of this container. */
  logPath: string;
}

export interface LogEntry {
  /**
   * Where this line ends in the container's log: the byte position just past its newline,
   * counted over the container's whole life (today the log is one json-file, so it is the
   * offset in that file; when rotation comes, each file records the position it starts at
   * and seqs go on counting across files). So seqs are unique, strictly increasing and
   * always above 0, and safe integers for the first 8 PiB of output; they are not line
   * numbers (they grow by each line's length and skip damaged lines). A reader that saw seq
   * N asks for afterSeq N and gets exactly the lines that follow, found by seeking to N.
   */
  seq: number;
  stream: 'stdout' | 'stderr';
  /** RFC 3339 with nanoseconds, as the line was read from the process. */
  time: string;
  /** The text as printed, including its trailing "\n" when it had one. */
  line: string;
}
