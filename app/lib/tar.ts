// A one-file tar (ustar), made in the browser: the context of a build from a pasted Dockerfile.

function octal(n: number, width: number): string {
  return n.toString(8).padStart(width - 1, '0') + '\0';
}

/** A tar holding `name` (a plain relative path of at most 100 bytes) with `content`. */
export function singleFileTar(name: string, content: Uint8Array, mtimeSec = Math.floor(Date.now() / 1000)): Uint8Array<ArrayBuffer> {
  const enc = new TextEncoder();
  const nameBytes = enc.encode(name);
  if (!nameBytes.length || nameBytes.length > 100 || name.startsWith('/') || name.split('/').includes('..')) throw new Error(`not a file name for a tar: ${name}`);
  const header = new Uint8Array(512);
  const put = (at: number, s: string) => header.set(enc.encode(s), at);
  header.set(nameBytes, 0);
  put(100, octal(0o644, 8));
  put(108, octal(0, 8));
  put(116, octal(0, 8));
  put(124, octal(content.length, 12));
  put(136, octal(mtimeSec, 12));
  put(148, '        ');
  put(156, '0');
  put(257, 'ustar\0');
  put(263, '00');
  const sum = header.reduce((a, b) => a + b, 0);
  put(148, sum.toString(8).padStart(6, '0') + '\0 ');
  const padded = Math.ceil(content.length / 512) * 512;
  const out = new Uint8Array(512 + padded + 1024);
  out.set(header, 0);
  out.set(content, 512);
  return out;
}
