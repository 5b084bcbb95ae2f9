'use client';
// Pieces of the host's images page: the per-layer progress of a pull or push, an image's
// inspect and history view, and the archive upload (load).
import { useRef, useState } from 'react';
import { Field, Form } from '../../../components/form';
import { ErrorText, Notice } from '../../../components/ui';
import { singleFileTar } from '../../../lib/tar';
import type { OperationProgress } from '../../../lib/image-progress';
import { formatBytes, formatTime, shortId } from '../../../lib/format';
import { trpc } from '../../../lib/trpc';
import type { ImageLoadResult } from '../../../../protocol/agent-link';

/** One bar per layer, as `docker pull` and `docker push` draw them; a <progress> needs no inline style, so the CSP holds. */
export function LayerBars({ progress, testId }: { progress: OperationProgress; testId: string }) {
  if (!progress.layers.length && !progress.messages.length) return null;
  return (
    <div className="mt-3 space-y-1.5" data-testid={testId}>
      {progress.messages.map((m, i) => (
        <p key={i} className="font-mono text-xs break-all text-slate-600" data-testid={`${testId}-message`}>
          {m}
        </p>
      ))}
      {progress.layers.map((l) => (
        <div key={l.id} className="grid grid-cols-[7rem_1fr_16rem] items-center gap-3 text-xs" data-testid="layer-progress" data-layer-id={l.id} data-percent={l.percent} data-status={l.status}>
          <span className="font-mono text-slate-700">{l.id}</span>
          <progress
            className={`h-2 w-full overflow-hidden rounded ${l.done ? 'accent-emerald-600' : 'accent-sky-600'}`}
            max={100}
            value={l.percent}
            aria-label={`layer ${l.id}: ${l.status} ${l.percent}%`}
          />
          <span className="truncate text-slate-600" data-testid="layer-progress-status" title={l.status}>
            {l.status}
            {!l.done && l.total ? ` ${formatBytes(l.current ?? 0)} / ${formatBytes(l.total)}` : ''} · {l.percent}%
          </span>
        </div>
      ))}
    </div>
  );
}

const list = (v: unknown) => (Array.isArray(v) && v.length ? v.join(' ') : '—');
const pairs = (v: unknown) =>
  v && typeof v === 'object' && Object.keys(v).length
    ? Object.entries(v as Record<string, unknown>)
        .map(([k, x]) => (typeof x === 'string' && x !== '' ? `${k}=${x}` : k))
        .join(', ')
    : '—';

/** Asked of the agent when opened: the record, its layers with their sizes, and its history, newest step first like `docker history`. */
export function ImageDetailsView({ hostId, imageId }: { hostId: string; imageId: string }) {
  const q = trpc.images.inspect.useQuery({ hostId, ref: imageId }, { retry: false });
  if (q.error) return <ErrorText testId="image-inspect-error">{q.error.message}</ErrorText>;
  if (!q.data) return <p className="text-sm text-slate-500">Loading…</p>;
  const img = q.data;
  const c = img.config as Record<string, unknown>;
  const facts: Array<[string, string]> = [
    ['Id', img.id],
    ['Tags', img.repoTags.join(', ') || '—'],
    ['Digests', img.repoDigests.join(', ') || '—'],
    ['Created', formatTime(img.created)],
    ['Platform', `${img.os}/${img.architecture}${img.variant ? `/${img.variant}` : ''}`],
    ['Size', formatBytes(img.size)],
    ['Cmd', list(c.Cmd)],
    ['Entrypoint', list(c.Entrypoint)],
    ['Env', list(c.Env)],
    ['WorkingDir', typeof c.WorkingDir === 'string' && c.WorkingDir ? c.WorkingDir : '—'],
    ['User', typeof c.User === 'string' && c.User ? c.User : '—'],
    ['Labels', pairs(c.Labels)],
    ['ExposedPorts', pairs(c.ExposedPorts)],
    ['Volumes', pairs(c.Volumes)],
  ];
  // Steps that made a layer take the layers' sizes in order, as `docker history` counts them.
  const steps = img.history?.length ? img.history : img.diffIds.map(() => ({ created: img.created, createdBy: '', emptyLayer: false, comment: '' }));
  let layer = 0;
  const history = steps.map((h) => ({ ...h, size: h.emptyLayer ? 0 : (img.layerSizes[layer++] ?? 0) })).reverse();
  return (
    <div className="space-y-4" data-testid="image-inspect-view">
      <dl className="grid grid-cols-[8rem_1fr] gap-x-4 gap-y-1 text-sm">
        {facts.map(([k, v]) => (
          <div key={k} className="contents">
            <dt className="text-slate-500">{k}</dt>
            <dd className="font-mono text-xs break-all text-slate-800" data-testid={`image-inspect-${k.toLowerCase()}`}>
              {v}
            </dd>
          </div>
        ))}
      </dl>
      <div>
        <h3 className="text-xs font-semibold tracking-wide text-slate-500 uppercase">Layers ({img.diffIds.length})</h3>
        <table className="mt-1 w-full text-xs" data-testid="image-layers">
          <tbody>
            {img.diffIds.map((d, i) => (
              <tr key={d} data-testid="image-layer">
                <td className="py-0.5 pr-4 font-mono text-slate-700">{shortId(d)}</td>
                <td className="py-0.5 text-right tabular-nums">{formatBytes(img.layerSizes[i] ?? 0)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <div>
        <h3 className="text-xs font-semibold tracking-wide text-slate-500 uppercase">History</h3>
        <table className="mt-1 w-full text-xs" data-testid="image-history">
          <thead className="text-left text-slate-500">
            <tr>
              <th className="py-1 pr-4">Created</th>
              <th className="py-1 pr-4">Created by</th>
              <th className="py-1 pr-4 text-right">Size</th>
              <th className="py-1">Comment</th>
            </tr>
          </thead>
          <tbody>
            {history.map((h, i) => (
              <tr key={i} data-testid="image-history-step" className="align-top">
                <td className="py-0.5 pr-4 whitespace-nowrap text-slate-600">{formatTime(h.created)}</td>
                <td className="py-0.5 pr-4 font-mono break-all text-slate-800" data-testid="image-history-created-by">
                  {h.createdBy || '—'}
                </td>
                <td className="py-0.5 pr-4 text-right tabular-nums">{formatBytes(h.size)}</td>
                <td className="py-0.5 text-slate-600">{h.comment || ''}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </div>
  );
}

/**
 * `docker load` from a file the user picks: the browser streams the file to the control plane
 * (XMLHttpRequest, for its upload progress), which streams it on to the agent.
 */
export function LoadArchive({ hostId, disabled, onLoaded }: { hostId: string; disabled: boolean; onLoaded: () => void }) {
  const input = useRef<HTMLInputElement>(null);
  const [file, setFile] = useState<File | null>(null);
  const [sent, setSent] = useState<number | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [loaded, setLoaded] = useState<ImageLoadResult | null>(null);
  const busy = sent !== null;

  function upload() {
    if (!file) return;
    setError(null);
    setLoaded(null);
    setSent(0);
    const xhr = new XMLHttpRequest();
    xhr.open('POST', `/api/images/load?hostId=${encodeURIComponent(hostId)}`);
    xhr.setRequestHeader('Content-Type', 'application/x-tar');
    xhr.upload.onprogress = (e) => setSent(e.loaded);
    xhr.onload = () => {
      setSent(null);
      let body: { error?: string; images?: ImageLoadResult['images'] } = {};
      try {
        body = JSON.parse(xhr.responseText) as typeof body;
      } catch {
        body = { error: `the server answered ${xhr.status} ${xhr.statusText}` };
      }
      if (xhr.status !== 200) setError(body.error ?? `the server answered ${xhr.status}`);
      else {
        setLoaded({ images: body.images ?? [] });
        setFile(null);
        if (input.current) input.current.value = '';
      }
      onLoaded();
    };
    xhr.onerror = () => {
      setSent(null);
      setError('the upload broke off (connection lost)');
    };
    xhr.send(file);
  }

  return (
    <div data-testid="image-load-form">
      <div className="flex flex-wrap items-end gap-3">
        <div className="flex-1">
          <label htmlFor="image-load-file" className="label">
            Image archive (docker save, .tar or .tar.gz)
          </label>
          <input
            id="image-load-file"
            ref={input}
            type="file"
            accept=".tar,.tar.gz,.tgz,application/x-tar,application/gzip"
            className="input"
            onChange={(e) => setFile(e.target.files?.[0] ?? null)}
          />
        </div>
        <button type="button" className="btn-primary" disabled={disabled || !file || busy} onClick={upload}>
          {busy ? 'Loading…' : 'Load archive'}
        </button>
      </div>
      {busy && file ? (
        <div className="mt-2 flex items-center gap-3 text-xs text-slate-600" data-testid="image-load-progress">
          <progress className="h-2 flex-1 accent-sky-600" max={file.size || 1} value={sent ?? 0} />
          <span>
            {formatBytes(sent ?? 0)} / {formatBytes(file.size)}
          </span>
        </div>
      ) : null}
      <ErrorText testId="image-load-error">{error}</ErrorText>
      <Notice testId="image-loaded">
        {loaded ? `Loaded ${loaded.images.map((i) => (i.tags.length ? i.tags.join(', ') : shortId(i.id))).join('; ') || 'nothing'}` : null}
      </Notice>
    </div>
  );
}

type BuildLine = { stream?: string; status?: string; error?: string; result?: { id: string }; aux?: { ID: string } };

/**
 * Build from a Dockerfile pasted here (the context is that one file), or from an uploaded
 * context (a tar, gzip or not, whose Dockerfile the path names): the builder's output streams
 * in as it is printed, and the image is listed when it is done.
 */
export function BuildPanel({ hostId, disabled, onBuilt }: { hostId: string; disabled: boolean; onBuilt: () => void }) {
  const [dockerfile, setDockerfile] = useState('');
  const [context, setContext] = useState<File | null>(null);
  const [path, setPath] = useState('Dockerfile');
  const [tag, setTag] = useState('');
  const [noCache, setNoCache] = useState(false);
  const [output, setOutput] = useState('');
  const [outcome, setOutcome] = useState<{ ok: boolean; text: string } | null>(null);
  const [pending, setPending] = useState(false);

  async function build() {
    setPending(true);
    setOutput('');
    setOutcome(null);
    try {
      const q = new URLSearchParams({ hostId });
      if (tag.trim()) q.append('tag', tag.trim());
      if (noCache) q.set('nocache', '1');
      if (context && path.trim()) q.set('dockerfile', path.trim());
      const body: BodyInit = context ?? new Blob([singleFileTar('Dockerfile', new TextEncoder().encode(dockerfile))], { type: 'application/x-tar' });
      const res = await fetch(`/api/images/build?${q}`, { method: 'POST', body, headers: { 'content-type': 'application/x-tar' } });
      if (!res.ok || !res.body) {
        const j = (await res.json().catch(() => ({}))) as { error?: string };
        setOutcome({ ok: false, text: j.error ?? `HTTP ${res.status}` });
        return;
      }
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let rest = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        rest += value;
        let nl: number;
        while ((nl = rest.indexOf('\n')) >= 0) {
          const line = rest.slice(0, nl);
          rest = rest.slice(nl + 1);
          if (!line.trim()) continue;
          const o = JSON.parse(line) as BuildLine;
          if (o.stream) setOutput((s) => s + o.stream);
          else if (o.status) setOutput((s) => s + o.status + '\n');
          if (o.result) setOutcome({ ok: true, text: `Built ${o.result.id.slice(7, 19)}${tag.trim() ? ` as ${tag.trim()}` : ''}` });
          if (o.error) setOutcome({ ok: false, text: o.error });
        }
      }
      onBuilt();
    } catch (err) {
      setOutcome({ ok: false, text: err instanceof Error ? err.message : String(err) });
    } finally {
      setPending(false);
    }
  }

  return (
    <div className="mt-4 space-y-3" data-testid="image-build">
      <h3 className="text-sm font-semibold text-slate-800">Build</h3>
      <Form onSubmit={() => void build()} testId="image-build-form" submitLabel="Build" pendingLabel="Building…" pending={pending} canSubmit={!disabled && (!!context || !!dockerfile.trim())}>
        <label className="block text-sm">
          <span className="label">Dockerfile (the whole context when no context is uploaded)</span>
          <textarea className="input h-32 font-mono text-xs" data-testid="image-build-dockerfile" value={dockerfile} onChange={(e) => setDockerfile(e.target.value)} disabled={!!context} placeholder={'FROM busybox\nRUN echo hello > /hello'} />
        </label>
        <div className="flex flex-wrap items-end gap-3">
          <label className="text-sm">
            <span className="label">Or a context (.tar, .tar.gz)</span>
            <input type="file" accept=".tar,.tgz,.gz,application/x-tar,application/gzip" data-testid="image-build-context" onChange={(e) => setContext(e.target.files?.[0] ?? null)} />
          </label>
          {context ? <Field id="image-build-path" label="Dockerfile in the context" inputClassName="font-mono" value={path} onChange={(e) => setPath(e.target.value)} /> : null}
          <Field id="image-build-tag" label="Tag" inputClassName="font-mono" placeholder="team/app:1.0" value={tag} onChange={(e) => setTag(e.target.value)} />
          <label className="flex items-center gap-1 text-sm">
            <input type="checkbox" checked={noCache} onChange={(e) => setNoCache(e.target.checked)} data-testid="image-build-nocache" /> No cache
          </label>
        </div>
      </Form>
      {output ? (
        <pre className="max-h-80 overflow-auto rounded bg-slate-900 p-3 text-xs text-slate-100" data-testid="image-build-output">
          {output}
        </pre>
      ) : null}
      {outcome ? outcome.ok ? <Notice testId="image-build-done">{outcome.text}</Notice> : <ErrorText testId="image-build-error">{outcome.text}</ErrorText> : null}
    </div>
  );
}
