// .dockerignore, as Docker's patternmatcher reads it: one pattern a line, # comments, a
// leading "!" for an exception, "**" for any number of directories, * ? [..] within a name;
// a pattern that matches a directory excludes what is in it; the last matching line wins.
// The docker CLI already leaves ignored files out of the context it sends; the builder
// applies the file again, so other API clients get the same context.
//
// Exports: compileIgnore, removeIgnored.
import { readdir, rm } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { badRequest } from '../errors';

interface Pattern {
  re: RegExp;
  exclusion: boolean;
}

function toRegex(p: string): RegExp {
  let out = '^';
  for (let i = 0; i < p.length; i++) {
    const c = p[i];
    if (c === '*') {
      if (p[i + 1] === '*') {
        i++;
        // "**/" matches any number of leading directories, "**" at the end anything.
        if (p[i + 1] === '/') {
          i++;
          out += '(?:.*/)?';
        } else out += '.*';
      } else out += '[^/]*';
    } else if (c === '?') out += '[^/]';
    else if (c === '[') {
      const end = p.indexOf(']', i + 2);
      if (end < 0) out += '\\[';
      else {
        let cls = p.slice(i + 1, end);
        if (cls.startsWith('^') || cls.startsWith('!')) cls = '^' + cls.slice(1);
        out += `[${cls.replace(/\\/g, '\\\\')}]`;
        i = end;
      }
    } else if (c === '\\' && i + 1 < p.length) {
      out += p[++i].replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    } else out += c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  }
  return new RegExp(out + '$');
}

/** A predicate: is this context path (relative, "/"-separated) excluded? */
export function compileIgnore(text: string): (path: string) => boolean {
  const patterns: Pattern[] = [];
  for (const raw of text.split(/\r?\n/)) {
    let line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const exclusion = line.startsWith('!');
    if (exclusion) line = line.slice(1).trim();
    line = posix.normalize(line).replace(/^\/+/, '').replace(/\/+$/, '');
    if (!line || line === '.') continue;
    let re: RegExp;
    try {
      re = toRegex(line);
    } catch {
      // A class like [z-a]: Docker's patternmatcher refuses the file the same way.
      throw badRequest(`.dockerignore: syntax error in pattern ${JSON.stringify(raw.trim())}`);
    }
    patterns.push({ re, exclusion });
  }
  return (path: string) => {
    const parts = path.split('/');
    let excluded = false;
    for (const p of patterns) {
      // The path itself or one of its parents.
      let hit = false;
      for (let n = parts.length; n > 0 && !hit; n--) hit = p.re.test(parts.slice(0, n).join('/'));
      if (hit) excluded = !p.exclusion;
    }
    return excluded;
  };
}

/** Removes from `dir` what `ignored` excludes (the Dockerfile was read before). Returns the number removed. */
export async function removeIgnored(dir: string, ignored: (path: string) => boolean): Promise<number> {
  let removed = 0;
  // Returns whether the directory kept anything.
  const walk = async (abs: string, rel: string): Promise<boolean> => {
    let kept = false;
    for (const e of await readdir(abs, { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      const p = join(abs, e.name);
      if (e.isDirectory()) {
        const inner = await walk(p, r);
        if (!inner && ignored(r)) {
          await rm(p, { recursive: true, force: true });
          removed++;
        } else kept = true;
      } else if (ignored(r)) {
        await rm(p, { force: true });
        removed++;
      } else kept = true;
    }
    return kept;
  };
  await walk(dir, '');
  return removed;
}
