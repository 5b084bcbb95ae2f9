// `docker build` as dockerd's classic builder does it: the context tar unpacked (through the
// layer extractor's checks) into a temp dir, the Dockerfile parsed (./dockerfile.ts), each
// stage built step by step. RUN runs in a real container of Berth's runtime; COPY and ADD
// put files into a container that is never started, through the same extraction `docker
// cp` uses; every step that changes files becomes a layer through the container commit,
// the others an image config with an empty_layer history entry. Each step's result is
// cached (./cache.ts) under its parent and what it does (for COPY and ADD, the content
// hash of its sources), so an unchanged step prints "Using cache".
//
// Exports: runBuild, BuildOptions, BuildOutput, BuildHost, BuildStepError.
import { createHash } from 'node:crypto';
import { createReadStream, type Stats } from 'node:fs';
import { lstat, mkdir, mkdtemp, open, readdir, readFile, readlink, rm, stat } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { applyChanges, jsonArray } from '../images/changes';
import { childImage } from '../images/commit';
import { tryParseReference } from '../images/reference';
import { hostPlatform, parsePlatform, platformString } from '../images/registry';
import { decompress, extractLayer } from '../layers/extract';
import { writeTar, type TarWriteEntry } from '../layers/tar-write';
import { mountReadOnly, unmountOverlay } from '../mounts/overlay';
import { resolveInRoot } from '../containers/archive';
import { badRequest, EngineError, notFound } from '../errors';
import type { ContainerRecord, ContainerSpec, ImageConfig, ImageRecord, ImageStore, LogEntry, LogOptions, PullOptions, PutArchiveOptions } from '../types';
import type { PathStat } from '../containers/archive';
import { writeFileAtomic } from '../atomic-write';
import { BuildCache, cacheKey } from './cache';
import { DockerfileError, parseDockerfile, type Instruction, type Stage } from './dockerfile';
import { compileIgnore, removeIgnored } from './ignore';
import { expandWord, expandWords, type Env } from './words';

/** What the builder needs of the engine. */
export interface BuildHost {
  readonly images: ImageStore;
  createContainer(spec: ContainerSpec): Promise<ContainerRecord>;
  start(id: string): Promise<void>;
  wait(id: string, condition?: 'not-running'): Promise<{ exitCode: number }>;
  logs(id: string, opts?: LogOptions): AsyncIterable<LogEntry>;
  remove(id: string, opts?: { force?: boolean }): Promise<void>;
  statPath(id: string, path: string): Promise<PathStat>;
  putArchive(id: string, path: string, tar: AsyncIterable<Buffer | Uint8Array>, opts?: PutArchiveOptions): Promise<void>;
  /** The container's changes as a layer on its image (released like importLayer's). */
  containerLayer(id: string): Promise<{ diffId: string; chainId: string }>;
  pullImage(ref: string, opts?: PullOptions): Promise<ImageRecord>;
  imageInUse(id: string): boolean;
}

/** One message of the build's JSON stream. */
export type BuildOutput = { stream: string } | { aux: { ID: string } } | { status: string; id?: string; progressDetail?: { current?: number; total?: number } };

export interface BuildOptions {
  /** The context: a tar (plain or gzip). */
  context: AsyncIterable<Buffer | Uint8Array>;
  /** Path of the Dockerfile in the context (default "Dockerfile"). */
  dockerfile?: string;
  tags?: string[];
  /** --build-arg: name → value (null: take it from the agent's environment, as the CLI's NAME alone means; Berth refuses that). */
  buildArgs?: Record<string, string | null>;
  target?: string;
  noCache?: boolean;
  labels?: Record<string, string>;
  /** Pull FROM images even when they are here (--pull). */
  pull?: boolean;
  /** Where the temp dirs go (the context, mounts of --from sources). */
  tmpDir: string;
  cache: BuildCache;
  onOutput: (o: BuildOutput) => void;
}

/** A RUN that failed: the message dockerd gives, and its exit code for the stream's errorDetail. */
export class BuildStepError extends EngineError {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(400, message);
    this.name = 'BuildStepError';
  }
}

const PREDEFINED_ARGS = new Set(['HTTP_PROXY', 'http_proxy', 'HTTPS_PROXY', 'https_proxy', 'FTP_PROXY', 'ftp_proxy', 'NO_PROXY', 'no_proxy', 'ALL_PROXY', 'all_proxy']);
const DEFAULT_SHELL = ['/bin/sh', '-c'];
const short = (id: string) => id.replace(/^sha256:/, '').slice(0, 12);

interface StageState {
  image?: ImageRecord;
  config: ImageConfig;
  /** Declared ARGs and their values. */
  args: Map<string, string | undefined>;
  cmdSet: boolean;
  /** MAINTAINER (the image's author). */
  author?: string;
}

/** A file to copy: where it is on the host, and its path under the destination. */
interface CopyItem {
  host: string;
  rel: string;
  st: Stats;
}

export async function runBuild(host: BuildHost, opts: BuildOptions): Promise<ImageRecord> {
  const store = host.images;
  for (const t of opts.tags ?? []) if (!tryParseReference(t)) throw badRequest(`invalid reference format: ${t}`);
  for (const [k, v] of Object.entries(opts.buildArgs ?? {})) {
    if (v === null) throw badRequest(`Berth does not support --build-arg ${k} without a value yet (give ${k}=VALUE)`);
  }
  const ctx = await mkdtemp(join(opts.tmpDir, 'build-'));
  const created = new Set<string>();
  const before = new Set(store.list().map((i) => i.id));
  const containers = new Set<string>();
  let final: ImageRecord | undefined;
  // What a later agent removes should this one die mid-build (see sweepBuilds in ../index.ts).
  const saveState = () => writeFileAtomic(join(ctx, 'state.json'), JSON.stringify({ containers: [...containers], images: [...created] }), { mode: 0o600 });
  try {
    await mkdir(join(ctx, 'context'));
    const ctxDir = join(ctx, 'context');
    await extractLayer(decompress(opts.context, 'build context'), ctxDir, { mode: 'copy', devices: 'skip', label: 'build context' });
    const dfName = opts.dockerfile || 'Dockerfile';
    let dfText: string;
    try {
      const df = resolveInRoot(ctxDir, dfName, { followLast: true });
      dfText = await readFile(df.host, 'utf8');
    } catch {
      throw badRequest(`Cannot locate specified Dockerfile: ${dfName}`);
    }
    let ignored: ((p: string) => boolean) | undefined;
    try {
      ignored = compileIgnore(await readFile(join(ctxDir, '.dockerignore'), 'utf8'));
    } catch {
      /* no .dockerignore */
    }
    if (ignored) await removeIgnored(ctxDir, ignored);

    const parsed = parseDockerfile(dfText);
    const escape = parsed.escape;
    const buildArgs = new Map(Object.entries(opts.buildArgs ?? {}) as Array<[string, string]>);
    const consumed = new Set<string>();

    // Which stages to build: all up to the target, as the classic builder does.
    let last = parsed.stages.length - 1;
    if (opts.target) {
      last = parsed.stages.findIndex((s) => s.name === opts.target!.toLowerCase());
      if (last < 0) throw badRequest(`failed to reach build target ${opts.target} in Dockerfile`);
    }
    const stages = parsed.stages.slice(0, last + 1);
    const labels = Object.entries(opts.labels ?? {}).sort(([a], [b]) => (a < b ? -1 : 1));
    const total = parsed.metaArgs.length + stages.reduce((n, s) => n + 1 + s.instructions.length, 0) + (labels.length ? 1 : 0);
    let step = 0;
    const say = (s: string) => opts.onOutput({ stream: s });
    const stepLine = (text: string) => say(`Step ${++step}/${total} : ${text}\n`);

    // Meta ARGs: for FROM lines only (and as defaults of ARGs a stage declares again).
    const meta = new Map<string, string | undefined>();
    for (const ins of parsed.metaArgs) {
      stepLine(ins.original);
      for (const [k, v] of argPairs(ins, meta, escape)) {
        consumed.add(k);
        meta.set(k, buildArgs.has(k) ? buildArgs.get(k) : v);
      }
    }

    const results: Array<ImageRecord | undefined> = [];
    const record = (img: ImageRecord) => {
      if (!before.has(img.id) && !created.has(img.id)) {
        created.add(img.id);
        saveState();
      }
      return img;
    };

    /** Records (or finds) the image a cached step made; undefined when the cache cannot give it back. */
    const fromCache = (key: string): ImageRecord | undefined => {
      const e = opts.cache.get(key);
      if (!e) return undefined;
      const have = store.get(e.config);
      if (have) return record(have);
      try {
        return record(store.createImage(store.configBytes(e.config)));
      } catch {
        opts.cache.delete(key);
        return undefined;
      }
    };

    for (const [si, stage] of stages.entries()) {
      stepLine(stage.from.original);
      const st = await fromStage(stage, si);
      results[si] = st.image;
      const triggers = st.config.OnBuild ?? [];
      if (triggers.length) {
        say(`# Executing ${triggers.length} build trigger${triggers.length > 1 ? 's' : ''}\n`);
        // Triggers run once, in the first child: dockerd clears them from its config.
        const { OnBuild: _run, ...rest } = st.config;
        st.config = rest;
        for (const t of triggers) {
          const ins = parseDockerfile(`FROM scratch\n${t}`).stages[0].instructions[0];
          if (!ins) continue;
          await dispatch(st, ins, si, true);
        }
      }
      for (const ins of stage.instructions) {
        stepLine(ins.original);
        await dispatch(st, ins, si, false);
        results[si] = st.image;
      }
      if (si === last && labels.length) {
        stepLine(`LABEL ${labels.map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(' ')}`);
        st.config = { ...st.config, Labels: { ...(st.config.Labels ?? {}), ...Object.fromEntries(labels) } };
        await metadataStep(st, `LABEL ${labels.map(([k, v]) => `${k}=${v}`).join(' ')}`);
        results[si] = st.image;
      }
      if (si === last) {
        if (!st.image) {
          // FROM scratch alone: an image with no layers, as dockerd makes.
          await metadataStep(st, 'FROM scratch');
        }
        final = st.image;
      }
    }

    const unused = [...buildArgs.keys()].filter((k) => !consumed.has(k) && !PREDEFINED_ARGS.has(k)).sort();
    if (unused.length) say(`[Warning] One or more build-args [${unused.join(' ')}] were not consumed\n`);
    if (!final) throw new EngineError(500, 'No image was generated. Is your Dockerfile empty?');
    opts.onOutput({ aux: { ID: final.id } });
    say(`Successfully built ${short(final.id)}\n`);
    for (const t of opts.tags ?? []) {
      const shown = store.tag(final.id, t);
      say(`Successfully tagged ${shown}\n`);
    }
    return final;

    // ---- the steps ----------------------------------------------------------------

    async function fromStage(stage: Stage, si: number): Promise<StageState> {
      const platform = stage.from.flags.get('platform')?.at(-1);
      if (platform !== undefined) {
        const want = parsePlatform(expandWord(platform, meta, escape));
        const here = hostPlatform();
        if (want.os !== here.os || want.architecture !== here.architecture) throw badRequest(`Berth builds for ${platformString(here)} only, not --platform=${platformString(want)}`);
      }
      const name = expandWord(stage.image, meta, escape);
      if (!name) throw new DockerfileError(stage.from.line, 'base name (' + stage.image + ') should not be blank');
      const args = new Map<string, string | undefined>();
      if (name.toLowerCase() === 'scratch') {
        return { config: {}, args, cmdSet: false };
      }
      const prev = stages.findIndex((s, i) => i < si && s.name === name.toLowerCase());
      if (prev >= 0) {
        const img = results[prev];
        if (img) say(` ---> ${short(img.id)}\n`);
        const cfg = img ? structuredClone(img.config) : {};
        return { image: img, config: cfg, args, cmdSet: false };
      }
      let img = opts.pull ? undefined : store.get(name);
      if (!img) {
        if (!tryParseReference(name)) throw badRequest(`invalid reference format: ${name}`);
        img = await host.pullImage(name, {
          onProgress: (p) => opts.onOutput({ status: p.status, ...(p.id ? { id: p.id } : {}), ...(p.current !== undefined ? { progressDetail: { current: p.current, total: p.total } } : {}) }),
        });
      }
      say(` ---> ${short(img.id)}\n`);
      return { image: img, config: structuredClone(img.config), args, cmdSet: false };
    }

    /** Variables for expansion: declared ARGs, with ENV over them (dockerd's order). */
    function expansionEnv(st: StageState): Env {
      const env = new Map<string, string | undefined>();
      for (const [k, v] of st.args) env.set(k, v);
      for (const e of st.config.Env ?? []) {
        const eq = e.indexOf('=');
        env.set(eq < 0 ? e : e.slice(0, eq), eq < 0 ? '' : e.slice(eq + 1));
      }
      return env;
    }

    /** Build args in effect for RUN: declared ones with a value, and predefined ones given, that ENV does not set. */
    function runArgs(st: StageState): { env: string[]; history: string[] } {
      const envKeys = new Set((st.config.Env ?? []).map((e) => e.split('=')[0]));
      const env: string[] = [];
      const history: string[] = [];
      for (const [k, v] of [...st.args].sort(([a], [b]) => (a < b ? -1 : 1))) {
        if (v === undefined || envKeys.has(k)) continue;
        env.push(`${k}=${v}`);
        history.push(`${k}=${v}`);
      }
      for (const k of PREDEFINED_ARGS) {
        if (buildArgs.has(k) && !st.args.has(k) && !envKeys.has(k)) env.push(`${k}=${buildArgs.get(k)}`);
      }
      return { env, history };
    }

    /** A step that changes only the config: cached, with an empty_layer history entry. */
    async function metadataStep(st: StageState, comment: string): Promise<void> {
      const createdBy = `/bin/sh -c #(nop)  ${comment}`;
      const key = cacheKey(st.image?.id, `${createdBy}\n${JSON.stringify(st.config)}\n${st.author ?? ''}`);
      const hit = opts.noCache ? undefined : fromCache(key);
      if (hit) {
        say(' ---> Using cache\n');
      } else {
        const img = record(childImage(store, { parent: st.image, config: st.config, createdBy, ...(st.author ? { author: st.author } : {}) }));
        opts.cache.set(key, img.id, img.chainIds);
        st.image = img;
        say(` ---> ${short(img.id)}\n`);
        return;
      }
      st.image = hit;
      say(` ---> ${short(hit.id)}\n`);
    }

    async function dispatch(st: StageState, ins: Instruction, si: number, trigger: boolean): Promise<void> {
      const env = () => expansionEnv(st);
      const one = () => {
        const v = expandWord(ins.args, env(), escape).trim();
        if (!v) throw new DockerfileError(ins.line, `${ins.cmd} requires exactly one argument`);
        return v;
      };
      switch (ins.cmd) {
        case 'ARG': {
          for (const [k, v] of argPairs(ins, env(), escape)) {
            consumed.add(k);
            const value = buildArgs.has(k) ? buildArgs.get(k) : v !== undefined ? v : meta.get(k);
            st.args.set(k, value);
          }
          return metadataStep(st, `ARG ${ins.args}`);
        }
        case 'ENV':
        case 'LABEL': {
          const pairs = kvPairs(ins, env(), escape);
          if (ins.cmd === 'ENV') {
            let e = st.config.Env ?? [];
            for (const [k, v] of pairs) e = [...e.filter((x) => x.split('=')[0] !== k), `${k}=${v}`];
            st.config = { ...st.config, Env: e };
          } else st.config = { ...st.config, Labels: { ...(st.config.Labels ?? {}), ...Object.fromEntries(pairs) } };
          return metadataStep(st, `${ins.cmd} ${pairs.map(([k, v]) => `${k}=${v}`).join(' ')}`);
        }
        case 'MAINTAINER':
          st.author = ins.args;
          return metadataStep(st, `MAINTAINER ${ins.args}`);
        case 'EXPOSE': {
          const ports = expandWords(ins.args, env(), escape);
          if (!ports.length) throw new DockerfileError(ins.line, 'EXPOSE requires at least one argument');
          st.config = applyChanges(st.config, [`EXPOSE ${ports.join(' ')}`], st);
          return metadataStep(st, `EXPOSE ${ports.map((p) => (p.includes('/') ? p : `${p}/tcp`)).join(' ')}`);
        }
        case 'USER':
          st.config = { ...st.config, User: one() };
          return metadataStep(st, `USER ${st.config.User}`);
        case 'STOPSIGNAL':
          st.config = { ...st.config, StopSignal: one() };
          return metadataStep(st, `STOPSIGNAL ${st.config.StopSignal}`);
        case 'WORKDIR': {
          const dir = one();
          st.config = applyChanges(st.config, [`WORKDIR ${dir}`], st);
          return workdirStep(st);
        }
        case 'VOLUME': {
          const t = ins.args.trim();
          const paths = (jsonArray(t) ?? expandWords(t, env(), escape)).map((p) => expandWord(p, env(), escape));
          if (!paths.length || paths.some((p) => !p.trim())) throw new DockerfileError(ins.line, 'VOLUME specified can not be an empty string');
          st.config = { ...st.config, Volumes: { ...(st.config.Volumes ?? {}), ...Object.fromEntries(paths.map((p) => [p, {}])) } };
          return metadataStep(st, `VOLUME [${paths.join(' ')}]`);
        }
        case 'CMD':
        case 'ENTRYPOINT':
        case 'HEALTHCHECK':
        case 'ONBUILD': {
          if (!ins.args && ins.cmd !== 'CMD' && ins.cmd !== 'ENTRYPOINT') throw new DockerfileError(ins.line, `${ins.cmd} requires at least one argument`);
          const flags = [...ins.flags].flatMap(([k, vs]) => vs.map((v) => `--${k}=${v}`));
          st.config = applyChanges(st.config, [`${ins.cmd} ${[...flags, ins.args].join(' ')}`], st);
          const shown =
            ins.cmd === 'CMD' ? JSON.stringify(st.config.Cmd ?? []) : ins.cmd === 'ENTRYPOINT' ? JSON.stringify(st.config.Entrypoint ?? []) : ins.cmd === 'ONBUILD' ? ins.args : JSON.stringify(st.config.Healthcheck);
          return metadataStep(st, `${ins.cmd} ${shown}`);
        }
        case 'SHELL': {
          const shell = jsonArray(ins.args.trim());
          if (!shell || !shell.length) throw new DockerfileError(ins.line, 'SHELL requires the arguments to be in JSON form');
          st.config = { ...st.config, Shell: shell };
          return metadataStep(st, `SHELL ${JSON.stringify(shell)}`);
        }
        case 'RUN':
          return runStep(st, ins);
        case 'COPY':
        case 'ADD':
          return copyStep(st, ins, si);
        case 'FROM':
          throw new DockerfileError(ins.line, trigger ? "FROM isn't allowed as an ONBUILD trigger" : 'FROM in the middle of a stage');
        default:
          throw new DockerfileError(ins.line, `unknown instruction: ${ins.cmd}`);
      }
    }

    /** WORKDIR makes its directory when the image lacks it (a layer), as dockerd's does. */
    async function workdirStep(st: StageState): Promise<void> {
      const dir = st.config.WorkingDir!;
      const createdBy = `/bin/sh -c #(nop) WORKDIR ${dir}`;
      const key = cacheKey(st.image?.id, `${createdBy}\n${JSON.stringify(st.config)}`);
      const hit = opts.noCache ? undefined : fromCache(key);
      if (hit) {
        say(` ---> Using cache\n ---> ${short(hit.id)}\n`);
        st.image = hit;
        return;
      }
      const ctr = await buildContainer(st, ['true']);
      try {
        let exists = true;
        try {
          await host.statPath(ctr, dir + '/');
        } catch (e) {
          if ((e as EngineError).status !== 404) throw e;
          exists = false;
        }
        let layer: { diffId: string; chainId: string } | undefined;
        if (!exists) {
          const { base, missing } = await existingAncestor(ctr, dir);
          await host.putArchive(ctr, base, writeTar(missing.map((m): TarWriteEntry => ({ path: m, type: 'directory', mode: 0o755 }))));
          layer = await host.containerLayer(ctr);
        }
        const img = record(childImage(store, { parent: st.image, layer, config: st.config, createdBy }));
        opts.cache.set(key, img.id, img.chainIds);
        st.image = img;
        say(` ---> ${short(img.id)}\n`);
      } finally {
        await dropContainer(ctr);
      }
    }

    async function runStep(st: StageState, ins: Instruction): Promise<void> {
      if (!st.image) throw badRequest(`${ins.original}: there is no shell in an empty image (FROM scratch); add files first`);
      const exec = jsonArray(ins.args.trim());
      const cmd = exec ?? [...(st.config.Shell ?? DEFAULT_SHELL), ins.args];
      if (!cmd.length || (exec === undefined && !ins.args.trim())) throw new DockerfileError(ins.line, 'RUN requires at least one argument');
      const { env, history } = runArgs(st);
      const createdBy = [...(history.length ? [`|${history.length}`, ...history] : []), ...cmd].join(' ');
      const key = cacheKey(st.image.id, `RUN\n${createdBy}\n${JSON.stringify(st.config)}`);
      const hit = opts.noCache ? undefined : fromCache(key);
      if (hit) {
        say(` ---> Using cache\n ---> ${short(hit.id)}\n`);
        st.image = hit;
        return;
      }
      const ctr = await buildContainer(st, cmd, env);
      try {
        say(` ---> Running in ${short(ctr)}\n`);
        await host.start(ctr);
        for await (const l of host.logs(ctr, { follow: true })) say(l.line);
        const { exitCode } = await host.wait(ctr, 'not-running');
        if (exitCode !== 0) throw new BuildStepError(`The command '${cmd.join(' ')}' returned a non-zero code: ${exitCode}`, exitCode);
        const layer = await host.containerLayer(ctr);
        const img = record(childImage(store, { parent: st.image, layer, config: st.config, createdBy, ...(st.author ? { author: st.author } : {}) }));
        opts.cache.set(key, img.id, img.chainIds);
        await dropContainer(ctr);
        say(` ---> Removed intermediate container ${short(ctr)}\n`);
        st.image = img;
        say(` ---> ${short(img.id)}\n`);
      } finally {
        await dropContainer(ctr);
      }
    }

    async function copyStep(st: StageState, ins: Instruction, si: number): Promise<void> {
      const add = ins.cmd === 'ADD';
      const t = ins.args.trim();
      const json = jsonArray(t);
      const words = json ? json.map((w) => expandWord(w, env(st), escape)) : expandWords(t, env(st), escape);
      if (words.length < 2) throw new DockerfileError(ins.line, `${ins.cmd} requires at least two arguments, but only ${words.length} provided`);
      const srcs = words.slice(0, -1);
      let dest = words[words.length - 1];
      const chown = ins.flags.get('chown')?.at(-1);
      const chownUser = chown !== undefined ? expandWord(chown, env(st), escape) : undefined;
      const fromFlag = ins.flags.get('from')?.at(-1);
      const workdir = st.config.WorkingDir || '/';
      const destDir = dest.endsWith('/') || dest === '.' || dest.endsWith('/.');
      dest = posix.resolve(workdir, dest);

      // The sources: the context, or another stage's (or image's) filesystem.
      let root = ctxDir;
      let unmount: (() => Promise<void>) | undefined;
      try {
        if (fromFlag !== undefined) {
          const from = expandWord(fromFlag, env(st), escape);
          const r = await sourceRoot(from, si);
          root = r.root;
          unmount = r.close;
        }
        const items: CopyItem[] = [];
        const archives: string[] = [];
        let many = srcs.length > 1;
        for (const src of srcs) {
          if (add && /^[a-z][a-z0-9+.-]*:\/\//i.test(src)) throw badRequest(`Berth does not support ADD from a URL yet (${src})`);
          if (add && /^git@|\.git(#.*)?$/.test(src) && /^[a-z]+:|^git@/.test(src)) throw badRequest(`Berth does not support ADD from a git repository yet (${src})`);
          const clean = posix.normalize(src);
          if (fromFlag === undefined && (clean === '..' || clean.startsWith('../'))) throw badRequest(`${ins.cmd} failed: forbidden path outside the build context: ${src} ()`);
          const matches = /[*?[]/.test(src) ? await glob(root, clean) : [clean];
          if (/[*?[]/.test(src)) {
            if (matches.length === 0) throw badRequest(`${ins.cmd} failed: no source files were specified`);
            if (matches.length > 1) many = true;
          }
          for (const m of matches) {
            let r;
            try {
              r = resolveInRoot(root, m, { followLast: true });
              await lstat(r.host);
            } catch {
              throw badRequest(`${ins.cmd} failed: file not found in build context or excluded by .dockerignore: stat ${src}: file does not exist`);
            }
            const s = await stat(r.host);
            if (s.isDirectory()) {
              await walk(r.host, '', items);
            } else if (add && fromFlag === undefined && (await archiveKind(r.host)) !== undefined) {
              archives.push(r.host);
            } else {
              items.push({ host: r.host, rel: posix.basename(r.inside) || posix.basename(m), st: s });
            }
          }
        }
        // A single file to a name that is not a directory: the file gets that name.
        const srcIsOneFile = !many && items.length === 1 && archives.length === 0 && !(await isDirSource(root, srcs[0]));
        const hash = await contentHash(items, archives);
        const kind = srcIsOneFile ? 'file' : many ? 'multi' : 'dir';
        const createdBy = `/bin/sh -c #(nop) ${ins.cmd} ${chownUser !== undefined ? `--chown=${chownUser} ` : ''}${kind}:${hash} in ${dest}${destDir ? '/' : ''} `;
        const key = cacheKey(st.image?.id, `${createdBy}\n${JSON.stringify(st.config)}`);
        const hit = opts.noCache ? undefined : fromCache(key);
        if (hit) {
          say(` ---> Using cache\n ---> ${short(hit.id)}\n`);
          st.image = hit;
          return;
        }
        if (!st.image) st.image = record(emptyImage());
        const ctr = await buildContainer(st, ['true'], [], chownUser);
        try {
          let targetDir = dest;
          let rename: string | undefined;
          if (srcIsOneFile && !destDir) {
            let isDir = false;
            try {
              const s = await host.statPath(ctr, dest + '/');
              isDir = (s.mode & 2 ** 31) !== 0;
            } catch (e) {
              if ((e as EngineError).status !== 404) throw e;
            }
            if (!isDir) {
              targetDir = posix.dirname(dest);
              rename = posix.basename(dest);
            }
          }
          const { base, missing } = await existingAncestor(ctr, targetDir);
          const prefix = missing.length ? missing[missing.length - 1] : '';
          const own = chownUser !== undefined ? { copyUIDGID: true } : {};
          const entries = async function* (): AsyncGenerator<TarWriteEntry> {
            for (const m of missing) yield { path: m, type: 'directory', mode: 0o755 };
            for (const it of items) {
              const path = posix.join(prefix, rename ?? it.rel);
              const meta = { path, mode: it.st.mode & 0o7777, mtime: Math.floor(it.st.mtimeMs / 1000) };
              if (it.st.isDirectory()) yield { ...meta, type: 'directory' };
              else if (it.st.isSymbolicLink()) yield { ...meta, type: 'symlink', linkpath: await readlink(it.host) };
              else if (it.st.isFile()) yield { ...meta, type: 'file', file: it.host, size: it.st.size };
            }
          };
          await host.putArchive(ctr, base, writeTar(entries()), own);
          const targetInside = posix.join(base, prefix);
          for (const a of archives) await host.putArchive(ctr, targetInside, createReadStream(a), own);
          const layer = await host.containerLayer(ctr);
          const img = record(childImage(store, { parent: st.image, layer, config: st.config, createdBy, ...(st.author ? { author: st.author } : {}) }));
          opts.cache.set(key, img.id, img.chainIds);
          st.image = img;
          say(` ---> ${short(img.id)}\n`);
        } finally {
          await dropContainer(ctr);
        }
      } finally {
        await unmount?.();
      }
    }

    function env(st: StageState): Env {
      return expansionEnv(st);
    }

    async function isDirSource(root: string, src: string): Promise<boolean> {
      try {
        return (await stat(resolveInRoot(root, src, { followLast: true }).host)).isDirectory();
      } catch {
        return false;
      }
    }

    /** A stage (name or index) or an image, mounted read-only for COPY --from. */
    async function sourceRoot(from: string, si: number): Promise<{ root: string; close: () => Promise<void> }> {
      let img: ImageRecord | undefined;
      const byName = stages.findIndex((s, i) => i < si && s.name === from.toLowerCase());
      if (byName >= 0) img = results[byName];
      else if (/^\d+$/.test(from)) {
        const n = Number(from);
        if (n >= si) throw badRequest(`invalid from flag value ${from}: refers to current or future build stage`);
        img = results[n];
      } else {
        if (!tryParseReference(from)) throw badRequest(`invalid from flag value ${from}: invalid reference format`);
        img = store.get(from) ?? (await host.pullImage(from, {}));
      }
      const dir = await mkdtemp(join(ctx, 'from-'));
      const layers = img ? store.layerDirs(img) : [];
      if (layers.length === 0) return { root: dir, close: () => rm(dir, { recursive: true, force: true }) };
      const lowers = [...layers].reverse();
      if (lowers.length < 2) {
        await mkdir(join(ctx, 'empty'), { recursive: true });
        lowers.push(join(ctx, 'empty'));
      }
      await mountReadOnly(lowers, dir);
      return {
        root: dir,
        close: async () => {
          await unmountOverlay(dir);
          await rm(dir, { recursive: true, force: true });
        },
      };
    }

    function emptyImage(): ImageRecord {
      const { architecture, os, variant } = hostPlatform();
      return store.createImage({ architecture, os, ...(variant ? { variant } : {}), created: new Date().toISOString(), config: {}, rootfs: { type: 'layers', diff_ids: [] }, history: [] });
    }

    async function buildContainer(st: StageState, cmd: string[], env: string[] = [], user?: string): Promise<string> {
      if (!st.image) st.image = record(emptyImage());
      const rec = await host.createContainer({
        image: st.image.id,
        process: {
          cmd,
          entrypoint: [],
          env,
          ...(st.config.WorkingDir ? { workingDir: st.config.WorkingDir } : {}),
          ...(user !== undefined ? { user } : st.config.User ? { user: st.config.User } : {}),
        },
        health: { test: ['NONE'] },
      });
      containers.add(rec.id);
      saveState();
      return rec.id;
    }

    async function dropContainer(id: string): Promise<void> {
      if (!containers.has(id)) return;
      containers.delete(id);
      await host.remove(id, { force: true }).catch(() => {});
    }

    /** The deepest directory of `dir` that exists in the container, and the missing ones below it (relative to it, each with its parents). */
    async function existingAncestor(ctr: string, dir: string): Promise<{ base: string; missing: string[] }> {
      const parts = dir.split('/').filter(Boolean);
      for (let n = parts.length; n >= 0; n--) {
        const p = '/' + parts.slice(0, n).join('/');
        try {
          const s = await host.statPath(ctr, n === 0 ? '/' : p + '/');
          if ((s.mode & 2 ** 31) === 0) throw badRequest(`${p} is not a directory`);
          const rest = parts.slice(n);
          return { base: p, missing: rest.map((_, i) => rest.slice(0, i + 1).join('/')) };
        } catch (e) {
          if ((e as EngineError).status !== 404) throw e;
        }
      }
      throw notFound(`no root directory in the build container`);
    }
  } finally {
    for (const id of containers) await host.remove(id, { force: true }).catch(() => {});
    // Intermediate images live on in the cache, not as images; a failed build leaves none.
    for (const id of created) {
      if (id === final?.id) continue;
      if (host.imageInUse(id)) continue;
      try {
        store.remove(id, { force: false, inUse: (x) => host.imageInUse(x) });
      } catch {
        /* tagged meanwhile, or in use: it stays */
      }
    }
    await rm(ctx, { recursive: true, force: true }).catch(() => {});
  }
}

/** ARG's NAME[=default] pairs, defaults expanded. */
function argPairs(ins: Instruction, env: Env, escape: string): Array<[string, string | undefined]> {
  const words = expandWordsRaw(ins.args);
  if (!words.length) throw new DockerfileError(ins.line, 'ARG requires exactly one argument');
  return words.map((w) => {
    const eq = w.indexOf('=');
    const name = eq < 0 ? w : w.slice(0, eq);
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new DockerfileError(ins.line, `ARG names can not be blank or hold ${JSON.stringify(name)}`);
    return [name, eq < 0 ? undefined : expandWord(w.slice(eq + 1), env, escape)];
  });
}

/** ENV and LABEL: KEY=value pairs (values expanded), or the legacy "KEY value" form. */
function kvPairs(ins: Instruction, env: Env, escape: string): Array<[string, string]> {
  const words = expandWordsRaw(ins.args);
  if (!words.length) throw new DockerfileError(ins.line, `${ins.cmd} requires at least one argument`);
  if (!words[0].includes('=')) {
    const m = /^(\S+)\s+([\s\S]+)$/.exec(ins.args.trim());
    if (!m) throw new DockerfileError(ins.line, `${ins.cmd} must have two arguments`);
    return [[expandWord(m[1], env, escape), expandWord(m[2], env, escape)]];
  }
  return words.map((w) => {
    const eq = w.indexOf('=');
    if (eq <= 0) throw new DockerfileError(ins.line, `${ins.cmd} names can not be blank (${JSON.stringify(w)})`);
    return [expandWord(w.slice(0, eq), env, escape), expandWord(w.slice(eq + 1), env, escape)];
  });
}

/** Words split on unquoted whitespace, quotes kept (dockerd's parseWords), for KEY=value lists. */
function expandWordsRaw(s: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quote: string | undefined;
  let inWord = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (quote) {
      cur += c;
      if (c === '\\' && quote === '"' && i + 1 < s.length) cur += s[++i];
      else if (c === quote) quote = undefined;
    } else if (c === '"' || c === "'") {
      quote = c;
      cur += c;
      inWord = true;
    } else if (c === '\\' && i + 1 < s.length) {
      cur += c + s[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) out.push(cur);
      cur = '';
      inWord = false;
    } else {
      cur += c;
      inWord = true;
    }
  }
  if (inWord) out.push(cur);
  return out;
}

/** Everything under a directory source, relative to it (the directory's content is copied, not the directory). */
async function walk(abs: string, rel: string, out: CopyItem[]): Promise<void> {
  for (const name of (await readdir(abs)).sort()) {
    const p = join(abs, name);
    const r = rel ? `${rel}/${name}` : name;
    const st = await lstat(p);
    if (st.isDirectory()) {
      out.push({ host: p, rel: r, st });
      await walk(p, r, out);
    } else if (st.isFile() || st.isSymbolicLink()) out.push({ host: p, rel: r, st });
    // devices, fifos and sockets in a context are not copied (the context's extraction skipped devices)
  }
}

/** Paths under `root` matching a pattern of Go's filepath.Match, a component at a time. */
async function glob(root: string, pattern: string): Promise<string[]> {
  const parts = pattern.split('/').filter((p) => p !== '' && p !== '.');
  const res: string[] = [];
  const re = (p: string) =>
    new RegExp(
      '^' +
        p.replace(/\\(.)|([.+^${}()|\\/])|(\*)|(\?)|(\[!?)/g, (_m, esc: string, special: string, star: string, q: string, cls: string) =>
          esc ? esc.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&') : special ? `\\${special}` : star ? '[^/]*' : q ? '[^/]' : cls === '[!' ? '[^' : '[',
        ) +
        '$',
    );
  const step = async (dir: string, rel: string, i: number) => {
    if (i === parts.length) {
      res.push(rel);
      return;
    }
    const part = parts[i];
    if (!/[*?[]/.test(part)) {
      try {
        await lstat(join(dir, part));
      } catch {
        return;
      }
      return step(join(dir, part), rel ? `${rel}/${part}` : part, i + 1);
    }
    let names: string[];
    try {
      names = (await readdir(dir)).sort();
    } catch {
      return;
    }
    const r = re(part);
    for (const n of names) if (r.test(n)) await step(join(dir, n), rel ? `${rel}/${n}` : n, i + 1);
  };
  await step(root, '', 0);
  return res;
}

/** A local file ADD unpacks: "tar" (plain), "gzip" or "zstd"; bzip2 and xz are refused by name; undefined: copy it as it is. */
async function archiveKind(path: string): Promise<string | undefined> {
  const fh = await open(path, 'r');
  try {
    const b = Buffer.alloc(512);
    const { bytesRead } = await fh.read(b, 0, 512, 0);
    const head = b.subarray(0, bytesRead);
    if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
    if (head.length >= 4 && head.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
    if (head.length >= 3 && head.subarray(0, 3).toString('latin1') === 'BZh') throw badRequest('Berth does not support unpacking bzip2 archives in ADD yet');
    if (head.length >= 6 && head.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) throw badRequest('Berth does not support unpacking xz archives in ADD yet');
    if (head.length === 512 && head.subarray(257, 262).toString('latin1') === 'ustar') return 'tar';
    return undefined;
  } finally {
    await fh.close();
  }
}

/** What the cache compares for COPY and ADD: names, types, modes and content of the sources. */
async function contentHash(items: CopyItem[], archives: string[]): Promise<string> {
  const h = createHash('sha256');
  for (const it of items) {
    h.update(`${it.rel}\0${it.st.mode}\0${it.st.size}\0`);
    if (it.st.isSymbolicLink()) h.update(await readlink(it.host));
    else if (it.st.isFile()) for await (const c of createReadStream(it.host)) h.update(c as Buffer);
    h.update('\0');
  }
  for (const a of archives) {
    h.update('archive\0');
    for await (const c of createReadStream(a)) h.update(c as Buffer);
  }
  return h.digest('hex');
}

