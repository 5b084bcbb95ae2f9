// A container as every part of Berth speaks of it: the spec a caller asks for (the Docker
// API face maps its create body into it, the dashboard's run form builds it, the link
// carries it), the record the engine keeps, and the log lines it prints. Pure data and
// zod, no Node imports, so the browser bundle can use it too.
//
// The spec is strict: a key the engine does not know is refused with its name, never
// dropped. A new capability adds its field to one section here, one mapper in the Docker
// face, and the engine code that honours it.
import './zod-in-browser';
import { z } from 'zod';

const strings = z.array(z.string());

/** default: the networks listed (the default bridge when none are); host: the host's network
 *  namespace; none: a namespace with loopback only; container: another container's namespace. */
export const NETWORK_MODES = ['default', 'host', 'none', 'container'] as const;
export type NetworkMode = (typeof NETWORK_MODES)[number];

export const PORT_PROTOCOLS = ['tcp', 'udp'] as const;
export type PortProtocol = (typeof PORT_PROTOCOLS)[number];

const port = z.number().int().min(1).max(65535);

/** One published port (`-p [IP:][HOST[-END]:]CONTAINER[/PROTO]`, ranges expanded to one binding per container port). */
const portBindingSchema = z.strictObject({
  containerPort: port,
  protocol: z.enum(PORT_PROTOCOLS).optional(),
  /** An IPv4 address of the host to listen on; absent or 0.0.0.0: all of them. */
  hostIp: z.string().optional(),
  /** Absent or 0: a free port the engine picks (from hostPort..hostPortEnd when that is given). */
  hostPort: z.number().int().min(0).max(65535).optional(),
  /** With hostPort: the last port of a range to pick a free one from. */
  hostPortEnd: port.optional(),
});

/** Joining one network: what `--network NAME --network-alias … --ip …` or `network connect` say. */
const endpointSchema = z.strictObject({
  /** The network's name or id. */
  network: z.string().min(1),
  /** More names the container answers to on this network, besides its own. */
  aliases: strings.optional(),
  /** Links, "NAME[:ALIAS]": ALIAS (or NAME) answers with NAME's address, for this container only, on this network. */
  links: strings.optional(),
  /** A fixed IPv4 address (only on networks with a subnet the user chose). */
  ipv4Address: z.string().optional(),
  /** The interface's MAC address; default 02:42 and the IPv4 address. */
  macAddress: z.string().optional(),
});
export type EndpointSpec = z.infer<typeof endpointSchema>;
export type PortBindingSpec = z.infer<typeof portBindingSchema>;

/** Docker's restart policies: what the engine does when a container's init exits on its own. */
export const RESTART_POLICIES = ['no', 'always', 'unless-stopped', 'on-failure'] as const;
export type RestartPolicyName = (typeof RESTART_POLICIES)[number];

export type HealthStatus = 'starting' | 'healthy' | 'unhealthy';

/** Nanoseconds, as Docker's HealthConfig has them; 0 = Docker's default. */
const duration = z.number().int().nonnegative();

export const PID_MODES = ['private', 'host'] as const;
/** shareable: a private namespace other containers could join (Berth has no joining yet, so it is private). */
export const IPC_MODES = ['private', 'shareable', 'host', 'none'] as const;
export const UTS_MODES = ['private', 'host'] as const;
export type SeccompChoice = 'default' | 'unconfined' | { profile: string };

export const MOUNT_TYPES = ['bind', 'volume', 'tmpfs'] as const;
export type MountType = (typeof MOUNT_TYPES)[number];
export const PROPAGATIONS = ['private', 'rprivate', 'shared', 'rshared', 'slave', 'rslave'] as const;
const labels = z.record(z.string(), z.string());

/** One mount as Docker's `--mount` describes it (the Docker face also maps `-v` into these). */
export const mountSpecSchema = z.strictObject({
  type: z.enum(MOUNT_TYPES),
  /** bind: an absolute host path; volume: a volume's name (absent: a new anonymous volume); tmpfs: none. */
  source: z.string().optional(),
  /** Where in the container: absolute, not "/". */
  target: z.string(),
  readOnly: z.boolean().optional(),
  /** bind: how mounts below it propagate; default rprivate. */
  propagation: z.enum(PROPAGATIONS).optional(),
  /** bind: only the source itself, not what is mounted below it on the host. */
  nonRecursive: z.boolean().optional(),
  /** bind: a missing source is made as a directory at start (`-v` does this; `--mount` refuses it). */
  createSource: z.boolean().optional(),
  /** volume: never fill an empty volume with what the image has at the target. */
  noCopy: z.boolean().optional(),
  /** volume: how to create it when no volume of that name exists yet (driver "local" only). */
  volumeDriver: z.string().optional(),
  volumeOptions: labels.optional(),
  volumeLabels: labels.optional(),
  /** tmpfs: bytes; 0 or absent: the kernel's default. */
  tmpfsSize: z.number().int().nonnegative().optional(),
  /** tmpfs: permission bits of its root; absent: 1777. */
  tmpfsMode: z.number().int().min(0).max(0o7777).optional(),
  /** Docker's `-v` text this mount came from (inspect shows it in HostConfig.Binds and Mode). */
  volumeFlag: z.string().optional(),
});
export type MountSpec = z.infer<typeof mountSpecSchema>;

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
      /** A reaper as PID 1 (Docker's docker-init) that runs the command, passes signals on and reaps zombies. */
      init: z.boolean().optional(),
      /** What `stop` sends: a name ("SIGINT", "INT") or a number; the image's STOPSIGNAL, then SIGTERM, otherwise. */
      stopSignal: z.string().optional(),
      /** Seconds `stop` waits before SIGKILL when the caller gives none (default 10; -1 waits for ever). */
      stopTimeout: z.number().int().min(-1).optional(),
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
      /** See NETWORK_MODES; default 'default'. */
      mode: z.enum(NETWORK_MODES).optional(),
      /** mode container: the container (name or id) whose network namespace this one shares. */
      container: z.string().min(1).optional(),
      /** mode default: the networks to join, the first one primary; absent: the default bridge. */
      networks: z.array(endpointSchema).optional(),
      hostname: z.string().max(63, 'a hostname has at most 63 characters').optional(),
      ports: z.array(portBindingSchema).optional(),
      /** Publish every exposed port (the image's EXPOSE and exposedPorts) on a free host port (-P). */
      publishAll: z.boolean().optional(),
      /** "80/tcp", "53/udp", "8080": exposed besides the image's EXPOSE (--expose). */
      exposedPorts: strings.optional(),
      /** Nameservers, search domains and resolver options for /etc/resolv.conf (or the embedded resolver's upstreams). */
      dns: strings.optional(),
      dnsSearch: strings.optional(),
      dnsOptions: strings.optional(),
      /** "name:ip" lines for /etc/hosts; the ip "host-gateway" is the gateway of the container's network. */
      extraHosts: strings.optional(),
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
  /** What the container's processes may do. Defaults are Docker's. */
  security: z
    .strictObject({
      /** Every capability the engine has, the host's devices, no masked or read-only paths,
       *  /sys writable, and no seccomp filter unless one is given. */
      privileged: z.boolean().optional(),
      /** Capability names, with or without CAP_, any case; "ALL". */
      capAdd: strings.optional(),
      capDrop: strings.optional(),
      /** PR_SET_NO_NEW_PRIVS: setuid files and file capabilities grant nothing. */
      noNewPrivileges: z.boolean().optional(),
      /** "default": Docker's profile; "unconfined": no filter; or a profile in Docker's JSON format. */
      seccomp: z.union([z.literal('default'), z.literal('unconfined'), z.strictObject({ profile: z.string() })]).optional(),
      /** Replace Docker's lists of masked (emptied) and read-only paths; [] for none. */
      maskedPaths: strings.optional(),
      readonlyPaths: strings.optional(),
      /** Host device nodes made in the container (a directory: every device under it). */
      devices: z
        .array(
          z.strictObject({
            hostPath: z.string().min(1),
            /** Default: hostPath. */
            containerPath: z.string().optional(),
            /** Some of r, w, m (read, write, mknod) for the devices cgroup; default rwm. */
            permissions: z.string().optional(),
          }),
        )
        .optional(),
    })
    .optional(),
  filesystem: z
    .strictObject({
      /** The rootfs read-only; /dev, /proc, /dev/shm, /dev/mqueue and tmpfs mounts stay as they are. */
      readonlyRootfs: z.boolean().optional(),
      /** Mount point → tmpfs options ("size=64m,mode=1777", "" for the defaults: noexec, nosuid, nodev). */
      tmpfs: z.record(z.string(), z.string()).optional(),
      /** Bytes of /dev/shm; 0: Docker's 64 MiB. */
      shmSize: z.number().int().nonnegative().optional(),
    })
    .optional(),
  /** Bind mounts, volumes and tmpfs mounts besides `filesystem.tmpfs`. */
  storage: z
    .strictObject({
      mounts: z.array(mountSpecSchema).optional(),
      /** Container paths that each get a new anonymous volume (`-v /path`); the image's VOLUMEs are added at create. */
      volumes: strings.optional(),
      /** "CONTAINER[:ro|:rw]": that container's volumes and binds, at the same places (`--volumes-from`). */
      volumesFrom: strings.optional(),
    })
    .optional(),
  /** Which namespaces are the container's own: "host" shares the host's. */
  namespaces: z
    .strictObject({
      pid: z.enum(PID_MODES).optional(),
      /** none: a namespace of its own without /dev/shm. */
      ipc: z.enum(IPC_MODES).optional(),
      uts: z.enum(UTS_MODES).optional(),
    })
    .optional(),
  kernel: z
    .strictObject({
      /** Namespaced sysctls only (net.*, kernel.msg*, kernel.sem, kernel.shm*, fs.mqueue.*, kernel.domainname). */
      sysctls: z.record(z.string(), z.string()).optional(),
      /** Resource limits of the container's processes: name as `ulimit` spells it (nofile, nproc …); -1 = unlimited. */
      ulimits: z.array(z.strictObject({ name: z.string(), soft: z.number().int().min(-1), hard: z.number().int().min(-1) })).optional(),
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
    init: boolean;
    /** As given, else the image's STOPSIGNAL; "" = SIGTERM. */
    stopSignal: string;
    /** null = 10 s. */
    stopTimeout: number | null;
    // Absent from records written before stdin and groups existed: false / none.
    consoleSize?: { rows: number; cols: number };
    openStdin?: boolean;
    stdinOnce?: boolean;
    attachStdin?: boolean;
    groupAdd?: string[];
  };
  resources: { memory: number; memorySwap: number; nanoCpus: number; cpuShares: number; pidsLimit: number };
  network: ResolvedNetwork;
  restart: { autoRemove: boolean; policy: RestartPolicyName; maxRetries: number };
  /** The healthcheck after merging with the image's (durations 0 = Docker's default); null: none. */
  health: ResolvedHealth | null;
  security: {
    privileged: boolean;
    /** Normalised: "CAP_NET_ADMIN", or "ALL". */
    capAdd: string[];
    capDrop: string[];
    noNewPrivileges: boolean;
    seccomp: SeccompChoice;
    /** null: Docker's list (none when privileged). */
    maskedPaths: string[] | null;
    readonlyPaths: string[] | null;
    devices: Array<{ hostPath: string; containerPath: string; permissions: string }>;
  };
  filesystem: { readonlyRootfs: boolean; tmpfs: Record<string, string>; shmSize: number };
  storage: ResolvedStorage;
  namespaces: { pid: (typeof PID_MODES)[number]; ipc: (typeof IPC_MODES)[number]; uts: (typeof UTS_MODES)[number] };
  kernel: { sysctls: Record<string, string>; ulimits: Array<{ name: string; soft: number; hard: number }> };
  // Absent from records written before log options existed: json-file, never rotated.
  log?: ResolvedLog;
}

export interface ResolvedEndpoint {
  /** The network's name when the container joined it, and its id (a network made again under the same name is another one). */
  name: string;
  id: string;
  aliases: string[];
  /** "NAME:ALIAS" (normalized); absent in records from before links. */
  links?: string[];
  /** "" = any free address. */
  ipv4Address: string;
  /** "" = derived from the address. */
  macAddress: string;
}

export interface ResolvedPortBinding {
  containerPort: number;
  protocol: PortProtocol;
  /** "" = every address of the host. */
  hostIp: string;
  /** 0 = a free port (between hostPort and hostPortEnd when hostPortEnd is set). */
  hostPort: number;
  hostPortEnd: number;
}

export interface ResolvedNetwork {
  mode: NetworkMode;
  hostname: string;
  /** mode container: the id of the container whose namespace is shared. */
  container?: string;
  /** mode default: the networks joined, primary first; [] = the default bridge, as Docker's NetworkMode "default". */
  networks: ResolvedEndpoint[];
  ports: ResolvedPortBinding[];
  publishAll: boolean;
  /** The image's EXPOSE and the container's own, "80/tcp". */
  exposedPorts: string[];
  dns: string[];
  dnsSearch: string[];
  dnsOptions: string[];
  extraHosts: string[];
}

/** A published port as it is while the container runs. */
export interface PublishedPort {
  containerPort: number;
  protocol: PortProtocol;
  /** "0.0.0.0" for every address. */
  hostIp: string;
  hostPort: number;
}

/** One network a running container is attached to, with its live addresses. */
export interface AttachedNetwork {
  networkId: string;
  endpointId: string;
  ipAddress: string;
  prefixLen: number;
  gateway: string;
  macAddress: string;
  /** Its aliases on this network, and its short id (Docker lists it among them on user networks). */
  aliases: string[];
}

/** What the engine adds to a record when it shows it: the container's network as it is now. */
export interface ContainerNetworkState {
  /** By network name; addresses are empty while the container is not running. */
  networks: Record<string, AttachedNetwork>;
  /** While running. */
  ports: PublishedPort[];
}

/** A container's mount points as the engine settled them at create (Docker's MountPoints). */
export interface ResolvedStorage {
  mounts: ResolvedMount[];
  /** The image's VOLUMEs and the spec's `volumes` together (inspect's Config.Volumes). */
  volumes: string[];
  volumesFrom: string[];
}

export interface ResolvedMount {
  type: MountType;
  /** bind: the host path; volume: the volume's name (anonymous ones get a generated one); tmpfs: "". */
  source: string;
  /** Clean and absolute. */
  target: string;
  readOnly: boolean;
  /** bind: as asked, else rprivate; "" for the others. */
  propagation: string;
  nonRecursive: boolean;
  /** bind: a missing source is made at start. */
  createSource: boolean;
  /** tmpfs: its options ("size=64m,mode=755"). */
  tmpfsOptions: string;
  /** volume: made for this container without a name; `rm -v` and `--rm` remove it. */
  anonymous: boolean;
  /** binds (-v SRC:DST), mounts (--mount), volumes (an image VOLUME or -v /path), volumes-from. */
  origin: 'binds' | 'mounts' | 'volumes' | 'volumes-from';
  /** Docker's Mode: the -v options as given ("ro,z"); "z" for a named volume from -v. */
  mode: string;
  /** The entry as the caller gave it (origin binds and mounts): inspect's HostConfig.Binds and .Mounts. */
  given?: MountSpec;
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
  /** Only for a container with a healthcheck that has been started. */
  health?: HealthState;
  /** Log lines of this run its monitor could not write (a full disk); absent when none. */
  logDropped?: LogDrop[];
}

/** `count` lines missing from the log after the line with seq `afterSeq` (0: before the first). */
export interface LogDrop {
  afterSeq: number;
  count: number;
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
  /** Docker json-file log of this container (its current file; rotated ones are logPath.1, .2 …); "" with log driver none. */
  logPath: string;
  /** Filled in by the engine when it shows a record (list, inspect); never stored. */
  networkState?: ContainerNetworkState;
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
