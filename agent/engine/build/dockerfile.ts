// The Dockerfile parser of the classic builder: parser directives (escape, syntax) at the
// top, comments, line continuations with the escape character, an instruction per logical
// line, its --flags, and the stages that FROM starts. Variables are expanded later, per
// step (./words.ts). What dockerd's classic builder would not take, and what only BuildKit
// does (heredocs, RUN --mount, COPY --chmod/--link), is refused naming the line.
//
// Exports: parseDockerfile, DockerfileError, Instruction, Stage, ParsedDockerfile, INSTRUCTIONS.
import { EngineError } from '../errors';

export class DockerfileError extends EngineError {
  constructor(line: number, message: string) {
    super(400, `dockerfile parse error on line ${line}: ${message}`);
    this.name = 'DockerfileError';
  }
}

export interface Instruction {
  /** Upper case: "RUN". */
  cmd: string;
  /** The logical line as written (continuations joined), for "Step N/M : …". */
  original: string;
  /** What follows the flags, trimmed. */
  args: string;
  /** --name=value flags (a bare --name is "true"); each may repeat. */
  flags: Map<string, string[]>;
  /** Where it starts (1-based). */
  line: number;
}

export interface Stage {
  /** The FROM instruction: args[0] is the image, "AS name" parsed into `name`. */
  from: Instruction;
  image: string;
  name?: string;
  instructions: Instruction[];
}

export interface ParsedDockerfile {
  escape: string;
  /** ARGs before the first FROM. */
  metaArgs: Instruction[];
  stages: Stage[];
}

/** Instruction → the flags the classic builder takes for it. */
export const INSTRUCTIONS: Record<string, readonly string[]> = {
  FROM: ['platform'],
  RUN: [],
  CMD: [],
  LABEL: [],
  MAINTAINER: [],
  EXPOSE: [],
  ENV: [],
  ADD: ['chown'],
  COPY: ['chown', 'from'],
  ENTRYPOINT: [],
  VOLUME: [],
  USER: [],
  WORKDIR: [],
  ARG: [],
  ONBUILD: [],
  STOPSIGNAL: [],
  HEALTHCHECK: ['interval', 'timeout', 'start-period', 'start-interval', 'retries'],
  SHELL: [],
};

/** Flags only BuildKit offers: refused with dockerd's own words. */
const BUILDKIT_FLAGS: Record<string, readonly string[]> = {
  RUN: ['mount', 'network', 'security'],
  COPY: ['chmod', 'link', 'parents', 'exclude'],
  ADD: ['chmod', 'link', 'checksum', 'keep-git-dir', 'exclude'],
};

const DIRECTIVE = /^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$/;

/** The leading --flags of an instruction's arguments. */
function splitFlags(cmd: string, rest: string, line: number): { flags: Map<string, string[]>; args: string } {
  const flags = new Map<string, string[]>();
  let t = rest;
  const allowed = INSTRUCTIONS[cmd];
  for (;;) {
    const m = /^--([^\s=]*)(?:=(\S*))?(?:\s+|$)/.exec(t);
    if (!m) break;
    if (m[1] === '') {
      // "--" alone ends the flags, as Go's flag parsing does.
      t = t.slice(m[0].length);
      break;
    }
    const name = m[1];
    if (BUILDKIT_FLAGS[cmd]?.includes(name)) throw new DockerfileError(line, `the --${name} option requires BuildKit, which Berth does not offer`);
    if (!allowed.includes(name)) throw new DockerfileError(line, `Unknown flag: ${name}`);
    flags.set(name, [...(flags.get(name) ?? []), m[2] ?? 'true']);
    t = t.slice(m[0].length);
  }
  return { flags, args: t.trim() };
}

export function parseDockerfile(text: string): ParsedDockerfile {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  let escape = '\\';
  let i = 0;
  // Parser directives: only at the very top, before any other line.
  const seen = new Set<string>();
  for (; i < lines.length; i++) {
    const m = DIRECTIVE.exec(lines[i]);
    if (!m) break;
    const key = m[1].toLowerCase();
    if (seen.has(key)) throw new DockerfileError(i + 1, `only one ${key} parser directive can be used`);
    seen.add(key);
    if (key === 'escape') {
      if (m[2] !== '\\' && m[2] !== '`') throw new DockerfileError(i + 1, `invalid escape token '${m[2]}' does not match ` + '` or \\');
      escape = m[2];
    }
    // syntax= names a BuildKit frontend; the classic builder reads the file itself, as dockerd's does.
  }
  const continuation = new RegExp(`${escape === '\\' ? '\\\\' : '`'}[ \\t]*$`);

  const all: Instruction[] = [];
  while (i < lines.length) {
    const raw = lines[i];
    const start = i + 1;
    i++;
    if (/^\s*$/.test(raw) || /^\s*#/.test(raw)) continue;
    let logical = raw.replace(/^\s+/, '');
    while (continuation.test(logical)) {
      logical = logical.replace(continuation, '');
      // Comment and empty lines inside a continuation are dropped, as dockerd drops them.
      while (i < lines.length && (/^\s*#/.test(lines[i]) || /^\s*$/.test(lines[i]))) i++;
      if (i >= lines.length) break;
      logical += lines[i].replace(/^\s+/, '');
      i++;
    }
    const m = /^(\S+)\s*([\s\S]*)$/.exec(logical.trimEnd());
    if (!m) continue;
    const cmd = m[1].toUpperCase();
    if (!(cmd in INSTRUCTIONS)) throw new DockerfileError(start, `unknown instruction: ${m[1]}`);
    const { flags, args } = splitFlags(cmd, m[2], start);
    if ((cmd === 'RUN' || cmd === 'COPY' || cmd === 'ADD') && !args.startsWith('[') && /(^|\s)<<-?["']?[A-Za-z_]/.test(args)) {
      throw new DockerfileError(start, `${cmd} with a heredoc (<<WORD) needs BuildKit, which Berth does not offer`);
    }
    all.push({ cmd, original: logical.trimEnd(), args, flags, line: start });
  }
  if (all.length === 0) throw new DockerfileError(1, 'file with no instructions');

  const metaArgs: Instruction[] = [];
  const stages: Stage[] = [];
  for (const ins of all) {
    if (ins.cmd === 'FROM') {
      const words = ins.args.split(/\s+/).filter(Boolean);
      if (words.length === 3 && words[1].toUpperCase() === 'AS') {
        if (!/^[a-zA-Z][a-zA-Z0-9_.-]*$/.test(words[2])) throw new DockerfileError(ins.line, `invalid name for build stage: "${words[2]}", name can't start with a number or contain symbols`);
        stages.push({ from: ins, image: words[0], name: words[2].toLowerCase(), instructions: [] });
      } else if (words.length === 1) {
        stages.push({ from: ins, image: words[0], instructions: [] });
      } else {
        throw new DockerfileError(ins.line, 'FROM requires either one or three arguments');
      }
    } else if (stages.length === 0) {
      if (ins.cmd !== 'ARG') throw new DockerfileError(ins.line, `no build stage in current context (${ins.cmd} before the first FROM)`);
      metaArgs.push(ins);
    } else {
      stages[stages.length - 1].instructions.push(ins);
    }
  }
  if (stages.length === 0) throw new DockerfileError(all[all.length - 1].line, 'no FROM instruction: a Dockerfile needs at least one stage');
  const names = new Set<string>();
  for (const s of stages) {
    if (!s.name) continue;
    if (names.has(s.name)) throw new DockerfileError(s.from.line, `duplicate name ${s.name}`);
    names.add(s.name);
  }
  return { escape, metaArgs, stages };
}
