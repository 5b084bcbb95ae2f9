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
      /** A TTY made in the container's own devpts on fds 0-2 (`-t`). */
      tty: z.boolean().optional(),
      /** Its first window size (the CLI sends the terminal's; resizes come later). */
      consoleSize: z.strictObject({ rows: z.number().int().min(0).max(65535), cols: z.number().int().min(0).max(65535) }).optional(),
      /** Keep stdin open for attached clients to write to (`-i`, Docker's OpenStdin); else /dev/null. */
      openStdin: z.boolean().optional(),
      /** Close stdin when an attached client's input ends (Docker's StdinOnce; `run -i` sets it). */
      stdinOnce: z.boolean().optional(),
      /** Whether the creator meant to attach stdin (Docker's AttachStdin; shown, not acted on). */
      attachStdin: z.boolean().optional(),
      /** Supplementary groups besides the user's own (`--group-add`): names from the image's /etc/group, or gids. */
      groupAdd: strings.optional(),
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
      /** Remove the container once it has stopped (`docker run --rm`). */
      autoRemove: z.boolean().optional(),
    })
    .optional(),
  log: z
    .strictObject({
      /** Docker's --log-driver: "json-file" (the default) or "none" (no log kept). */
      driver: z.string().optional(),
      /** Docker's --log-opt, as given: max-size (k, m, g: powers of 1000) and max-file rotate the log. */
      options: z.record(z.string(), z.string()).optional(),
    })
    .optional(),
});

export type ContainerSpec = z.infer<typeof containerSpecSchema>;

/** A spec as the engine resolved it against the image: every field has its value. */
export interface ResolvedSpec {
  labels: Record<string, string>;
  process: {
    cmd: string[];
    entrypoint: string[];
    env: string[];
    workingDir: string;
    user: string;
    tty: boolean;
    // Absent from records written before stdin and groups existed: false / none.
    consoleSize?: { rows: number; cols: number };
    openStdin?: boolean;
    stdinOnce?: boolean;
    attachStdin?: boolean;
    groupAdd?: string[];
  };
  resources: { memory: number; memorySwap: number; nanoCpus: number; cpuShares: number; pidsLimit: number };
  network: { mode: NetworkMode; hostname: string };
  restart: { autoRemove: boolean };
  // Absent from records written before log options existed: json-file, never rotated.
  log?: ResolvedLog;
}

export interface ResolvedLog {
  driver: 'json-file' | 'none';
  /** As given (what inspect shows as HostConfig.LogConfig.Config). */
  options: Record<string, string>;
  /** Bytes at which a file is rotated; 0 = never. */
  maxSize: number;
  /** Files kept, the current one included. */
  maxFile: number;
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
  restartCount: number;
  /** Docker json-file log of this container (its current file; rotated ones are logPath.1, .2 …); "" with log driver none. */
  logPath: string;
}

export interface LogEntry {
  /**
   * Where this line ends in the container's log: the byte position just past its newline,
   * counted over the container's whole life (the first file starts at 0; when the log is
   * rotated each file's start is recorded, and seqs go on counting across files). So seqs are unique, strictly increasing and
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
