'use client';
// A host's images: search and pages (cut on the server), in use by how many containers, inspect
// and history for anyone who may see the host; for operators and up pull and push with a bar
// per layer (the agent's progress, live over the '/ui' socket), tag, remove (untag or delete,
// force asked apart after the engine's refusal), prune, download (save), upload (load) and build.
import Link from 'next/link';
import { useParams, useSearchParams } from 'next/navigation';
import { useEffect, useState } from 'react';
import { hasRole } from '../../../../protocol/roles';
import { ConfirmDialog } from '../../../components/confirm-dialog';
import { DataTable } from '../../../components/data-table';
import { Field, Form } from '../../../components/form';
import { Pager } from '../../../components/pager';
import { ErrorText, Notice, Section, StateBadge } from '../../../components/ui';
import { formatBytes, shortId, timeAgo } from '../../../lib/format';
import { newProgressId, useImageProgress } from '../../../lib/image-progress';
import { useHostWatch } from '../../../lib/socket';
import { trpc, type RouterOutputs } from '../../../lib/trpc';
import { useNow } from '../../../lib/use-now';
import { BuildPanel, ImageDetailsView, LayerBars, LoadArchive } from './parts';

type Row = RouterOutputs['images']['list']['rows'][number];
type Panel = { id: string; kind: 'inspect' | 'tag' | 'push' };
const PAGE_SIZE = 25;

export default function HostImagesPage() {
  const { id: hostId } = useParams<{ id: string }>();
  const params = useSearchParams();
  const hostQuery = trpc.hosts.get.useQuery({ hostId });
  const { host: live } = useHostWatch(hostId);
  const host = live ?? hostQuery.data ?? null;
  const role = hostQuery.data?.role;
  const canOperate = hasRole(role, 'operator');
  const online = !!host?.online;
  const [search, setSearch] = useState(params.get('q') ?? '');
  const [page, setPage] = useState(1);
  const utils = trpc.useUtils();
  const list = trpc.images.list.useQuery({ hostId, search: search.trim() || undefined, page, pageSize: PAGE_SIZE }, { placeholderData: (prev) => prev });
  // The list is the agent's last snapshot: ask again whenever the host reports a change.
  const signature = host ? `${host.online}|${host.images.map((i) => `${i.id}:${i.repoTags.join(',')}`).join(';')}|${host.containers.map((c) => c.imageId).join(',')}` : '';
  useEffect(() => {
    void utils.images.list.invalidate({ hostId });
  }, [signature, hostId, utils]);
  const refresh = () => void utils.images.list.invalidate({ hostId });
  const now = useNow();

  const [panel, setPanel] = useState<Panel | null>(null);
  const [op, setOp] = useState<{ kind: 'pull' | 'push'; ref: string; progressId: string } | null>(null);
  const progress = useImageProgress(hostId, op?.progressId ?? null);
  const pull = trpc.images.pull.useMutation({ onSettled: refresh });
  const push = trpc.images.push.useMutation();
  const startPull = (ref: string) => {
    const progressId = newProgressId();
    setOp({ kind: 'pull', ref, progressId });
    push.reset();
    pull.mutate({ hostId, ref, progressId });
  };
  const startPush = (ref: string) => {
    const progressId = newProgressId();
    setOp({ kind: 'push', ref, progressId });
    pull.reset();
    setPanel(null);
    push.mutate({ hostId, ref, progressId });
  };

  const [removing, setRemoving] = useState<{ row: Row; choice: string } | null>(null);
  const [forcing, setForcing] = useState<string | null>(null);
  const remove = trpc.images.remove.useMutation({ onSettled: refresh });
  const [pruning, setPruning] = useState<null | 'dangling' | 'all'>(null);
  const prune = trpc.images.prune.useMutation({ onSettled: refresh });

  if (hostQuery.error) {
    return (
      <div className="space-y-3">
        <Link href="/images" className="text-sm text-sky-700 hover:underline">
          ← Images
        </Link>
        <ErrorText testId="host-error">{hostQuery.error.message}</ErrorText>
      </div>
    );
  }
  if (!host) return <p className="text-sm text-slate-500">Loading…</p>;

  const rows = list.data?.rows ?? [];
  const removeError = remove.error;
  return (
    <div className="space-y-5">
      <div>
        <Link href={`/hosts/${hostId}`} className="text-sm text-sky-700 hover:underline">
          ← {host.name}
        </Link>
        <h1 className="mt-1 flex items-center gap-3 text-xl font-semibold">
          <span>Images on {host.name}</span>
          <StateBadge state={host.online ? 'online' : 'offline'} testId="host-status" />
        </h1>
        {role ? <p className="text-xs text-slate-500">Your role here: {role}</p> : null}
      </div>

      {!online ? (
        <p className="rounded-md border border-amber-200 bg-amber-50 px-3 py-2 text-sm text-amber-800" data-testid="host-offline">
          This host is offline: its images show once its agent is back.
        </p>
      ) : null}

      {canOperate ? (
        <div className="grid items-start gap-5 lg:grid-cols-2">
          <Section title="Pull or push">
            <PullForm disabled={!online} pending={pull.isPending} onPull={startPull} />
            {op ? (
              <div className="mt-3" data-testid="image-transfer" data-kind={op.kind} data-ref={op.ref}>
                <p className="text-sm font-medium text-slate-700">
                  {op.kind === 'pull' ? 'Pulling' : 'Pushing'} <span className="font-mono">{op.ref}</span>
                </p>
                <LayerBars progress={progress} testId="image-progress" />
                <ErrorText testId="image-transfer-error">{op.kind === 'pull' ? pull.error?.message : push.error?.message}</ErrorText>
                <Notice testId="image-transfer-result">
                  {op.kind === 'pull' && pull.data && !pull.isPending
                    ? `Pulled ${pull.data.repoTags.join(', ') || op.ref} (${shortId(pull.data.id)})`
                    : op.kind === 'push' && push.data && !push.isPending
                      ? <span className="break-all">{`Pushed ${op.ref} (${push.data.digest})`}</span>
                      : null}
                </Notice>
              </div>
            ) : null}
          </Section>
          <Section
            title="Load or prune"
            actions={
              <span className="space-x-2">
                <button type="button" className="btn-secondary px-2 py-1 text-xs" disabled={!online || prune.isPending} onClick={() => setPruning('dangling')} data-testid="images-prune-dangling">
                  Prune dangling
                </button>
                <button type="button" className="btn-secondary px-2 py-1 text-xs" disabled={!online || prune.isPending} onClick={() => setPruning('all')} data-testid="images-prune-all">
                  Prune all unused
                </button>
              </span>
            }
          >
            <LoadArchive hostId={hostId} disabled={!online} onLoaded={refresh} />
            <ErrorText testId="images-prune-error">{prune.error?.message}</ErrorText>
            <Notice testId="images-pruned">
              {prune.data && !prune.isPending
                ? `Pruned ${prune.data.deleted.filter((d) => d.Deleted).length} image${prune.data.deleted.filter((d) => d.Deleted).length === 1 ? '' : 's'}, ${formatBytes(prune.data.spaceReclaimed)} reclaimed`
                : null}
            </Notice>
            <BuildPanel hostId={hostId} disabled={!online} onBuilt={refresh} />
          </Section>
        </div>
      ) : null}

      <Section title={`Images (${list.data ? list.data.total : '…'})`}>
        <div className="mb-3">
          <Field
            id="image-search"
            label="Search (tag, id)"
            className="max-w-sm"
            value={search}
            placeholder="busybox, sha256:12ab…"
            onChange={(e) => {
              setSearch(e.target.value);
              setPage(1);
            }}
          />
        </div>
        <ErrorText testId="images-error">{list.error?.message}</ErrorText>
        {removeError ? (
          <div data-testid="image-remove-refused">
            <ErrorText testId="image-remove-error">{removeError.message}</ErrorText>
            {removeError.data?.code === 'CONFLICT' && remove.variables && !remove.variables.force ? (
              <button type="button" className="btn-danger mt-2 px-2 py-1 text-xs" onClick={() => setForcing(remove.variables!.ref)} data-testid="image-force-remove">
                Force remove {remove.variables.ref.startsWith('sha256:') ? shortId(remove.variables.ref) : remove.variables.ref}…
              </button>
            ) : null}
          </div>
        ) : null}
        <Notice testId="image-removed">
          {remove.data && !remove.isPending
            ? remove.data.removed.map((r) => (r.Untagged ? `Untagged ${r.Untagged}` : `Deleted ${shortId(r.Deleted ?? '')}`)).join('; ')
            : null}
        </Notice>
        <DataTable
          testId="images-table"
          columns={['Tags', 'ID', { label: 'Size', align: 'right' }, 'Created', 'In use', { label: 'Actions', align: 'right' }]}
          loading={list.isLoading}
          empty={list.data && rows.length === 0 ? (search.trim() ? 'No image matches.' : online ? 'No images.' : 'The host is offline.') : null}
        >
          {rows.map((img) => (
            <ImageRows
              key={img.id}
              img={img}
              hostId={hostId}
              now={now}
              canOperate={canOperate}
              online={online}
              panel={panel?.id === img.id ? panel.kind : null}
              onPanel={(kind) => setPanel(panel?.id === img.id && panel.kind === kind ? null : { id: img.id, kind })}
              onTagged={refresh}
              onPush={startPush}
              pushing={push.isPending}
              onRemove={() => {
                remove.reset();
                setRemoving({ row: img, choice: img.repoTags[0] ?? img.id });
              }}
            />
          ))}
        </DataTable>
        {list.data ? <Pager page={list.data.page} pageSize={list.data.pageSize} total={list.data.total} onPage={setPage} testId="images-pager" /> : null}
      </Section>

      <ConfirmDialog
        open={removing !== null}
        title={`Remove ${removing ? (removing.row.repoTags.length ? removing.row.repoTags.join(', ') : shortId(removing.row.id)) : ''}?`}
        confirmLabel="Remove"
        testId="image-remove-dialog"
        onCancel={() => setRemoving(null)}
        onConfirm={() => {
          if (removing) remove.mutate({ hostId, ref: removing.choice });
          setRemoving(null);
        }}
      >
        {removing ? (
          <fieldset className="space-y-1.5">
            {removing.row.repoTags.map((t) => (
              <label key={t} className="flex items-center gap-2">
                <input type="radio" name="image-remove-choice" checked={removing.choice === t} onChange={() => setRemoving({ ...removing, choice: t })} />
                <span>
                  Untag <span className="font-mono">{t}</span>
                  {removing.row.repoTags.length === 1 ? ' (its only tag: the image goes with it)' : ''}
                </span>
              </label>
            ))}
            <label className="flex items-center gap-2">
              <input type="radio" name="image-remove-choice" checked={removing.choice === removing.row.id} onChange={() => setRemoving({ ...removing, choice: removing.row.id })} />
              <span>
                Delete the image <span className="font-mono">{shortId(removing.row.id)}</span> with every tag
              </span>
            </label>
            <p className="pt-1 text-slate-500">An image a container uses is not removed; the engine says so, and you can then force it.</p>
          </fieldset>
        ) : null}
      </ConfirmDialog>
      <ConfirmDialog
        open={forcing !== null}
        title={`Force remove ${forcing?.startsWith('sha256:') ? shortId(forcing) : (forcing ?? '')}?`}
        confirmLabel="Force remove"
        testId="image-force-dialog"
        onCancel={() => setForcing(null)}
        onConfirm={() => {
          if (forcing) remove.mutate({ hostId, ref: forcing, force: true });
          setForcing(null);
        }}
      >
        <p>The engine refused this removal (above). Forcing it untags the image even though containers were made from it; they keep running from their layers.</p>
      </ConfirmDialog>
      <ConfirmDialog
        open={pruning !== null}
        title={pruning === 'all' ? 'Prune every unused image?' : 'Prune dangling images?'}
        confirmLabel="Prune"
        testId="images-prune-dialog"
        onCancel={() => setPruning(null)}
        onConfirm={() => {
          if (pruning) prune.mutate({ hostId, all: pruning === 'all' });
          setPruning(null);
        }}
      >
        <p>
          {pruning === 'all'
            ? 'Every image no container uses (running or not) is deleted, tagged or not.'
            : 'Images with no tag that no container uses are deleted.'}
        </p>
      </ConfirmDialog>
    </div>
  );
}

function PullForm({ disabled, pending, onPull }: { disabled: boolean; pending: boolean; onPull: (ref: string) => void }) {
  const [ref, setRef] = useState('');
  return (
    <Form layout="row" testId="image-pull-form" onSubmit={() => onPull(ref.trim())} submitLabel="Pull" pendingLabel="Pulling…" pending={pending} canSubmit={!disabled && !!ref.trim()}>
      <Field id="image-pull-ref" label="Image to pull" className="flex-1" inputClassName="font-mono" placeholder="registry.example.com/team/app:1.2" value={ref} onChange={(e) => setRef(e.target.value)} required />
    </Form>
  );
}

function ImageRows({
  img,
  hostId,
  now,
  canOperate,
  online,
  panel,
  onPanel,
  onTagged,
  onPush,
  pushing,
  onRemove,
}: {
  img: Row;
  hostId: string;
  now: number;
  canOperate: boolean;
  online: boolean;
  panel: Panel['kind'] | null;
  onPanel: (kind: Panel['kind']) => void;
  onTagged: () => void;
  onPush: (ref: string) => void;
  pushing: boolean;
  onRemove: () => void;
}) {
  const saveHref = `/api/images/save?hostId=${encodeURIComponent(hostId)}${(img.repoTags.length ? img.repoTags : [img.id]).map((r) => `&ref=${encodeURIComponent(r)}`).join('')}`;
  return (
    <>
      <tr data-testid="image-row" data-image-id={img.id} data-image-tags={img.repoTags.join(' ')} className="align-top hover:bg-slate-50">
        <td className="px-4 py-2.5 font-mono text-xs" data-testid="image-tags">
          {img.repoTags.length ? img.repoTags.map((t) => <div key={t}>{t}</div>) : <span className="text-slate-400">&lt;none&gt;:&lt;none&gt;</span>}
        </td>
        <td className="px-4 py-2.5 font-mono text-xs text-slate-600" title={img.id}>
          {shortId(img.id)}
        </td>
        <td className="px-4 py-2.5 text-right tabular-nums">{formatBytes(img.size)}</td>
        <td className="px-4 py-2.5 text-slate-600" title={img.created}>
          {timeAgo(img.created, now)}
        </td>
        <td className="px-4 py-2.5 text-slate-600" data-testid="image-in-use" data-count={img.containers}>
          {img.containers ? `${img.containers} container${img.containers === 1 ? '' : 's'}` : <span className="text-slate-400">unused</span>}
        </td>
        <td className="space-x-1.5 px-4 py-2.5 text-right whitespace-nowrap">
          <button type="button" className="btn-secondary px-2 py-1 text-xs" onClick={() => onPanel('inspect')} aria-expanded={panel === 'inspect'} data-testid="image-inspect">
            {panel === 'inspect' ? 'Hide' : 'Inspect'}
          </button>
          {canOperate ? (
            <>
              <button type="button" className="btn-secondary px-2 py-1 text-xs" disabled={!online} onClick={() => onPanel('tag')} data-testid="image-tag">
                Tag
              </button>
              <button type="button" className="btn-secondary px-2 py-1 text-xs" disabled={!online || !img.repoTags.length} onClick={() => onPanel('push')} data-testid="image-push">
                Push
              </button>
              {online ? (
                <a className="btn-secondary px-2 py-1 text-xs" href={saveHref} download data-testid="image-save">
                  Save
                </a>
              ) : null}
              <button type="button" className="btn-danger px-2 py-1 text-xs" disabled={!online} onClick={onRemove} data-testid="image-remove">
                Remove
              </button>
            </>
          ) : null}
        </td>
      </tr>
      {panel ? (
        <tr data-testid={`image-${panel}-panel`} data-image-id={img.id}>
          <td colSpan={6} className="bg-slate-50 px-4 py-3">
            {panel === 'inspect' ? <ImageDetailsView hostId={hostId} imageId={img.id} /> : null}
            {panel === 'tag' ? <TagForm hostId={hostId} img={img} onTagged={onTagged} /> : null}
            {panel === 'push' ? <PushForm img={img} pushing={pushing} onPush={onPush} /> : null}
          </td>
        </tr>
      ) : null}
    </>
  );
}

function TagForm({ hostId, img, onTagged }: { hostId: string; img: Row; onTagged: () => void }) {
  const [target, setTarget] = useState('');
  const tag = trpc.images.tag.useMutation({ onSuccess: () => setTarget(''), onSettled: onTagged });
  return (
    <>
      <Form
        layout="row"
        testId="image-tag-form"
        onSubmit={() => tag.mutate({ hostId, source: img.repoTags[0] ?? img.id, target: target.trim() })}
        submitLabel="Add tag"
        pendingLabel="Tagging…"
        pending={tag.isPending}
        canSubmit={!!target.trim()}
        error={tag.error?.message}
        errorTestId="image-tag-error"
      >
        <Field id={`image-tag-target-${shortId(img.id)}`} label="New tag" className="flex-1" inputClassName="font-mono" placeholder="registry.example.com/team/app:1.2" value={target} onChange={(e) => setTarget(e.target.value)} required />
      </Form>
      <Notice testId="image-tagged">{tag.data && !tag.isPending ? `Tagged ${tag.data.tag}` : null}</Notice>
    </>
  );
}

function PushForm({ img, pushing, onPush }: { img: Row; pushing: boolean; onPush: (ref: string) => void }) {
  const [ref, setRef] = useState(img.repoTags[0] ?? '');
  return (
    <Form layout="row" testId="image-push-form" onSubmit={() => onPush(ref)} submitLabel="Push" pendingLabel="Pushing…" pending={pushing} canSubmit={!!ref}>
      <div className="flex-1">
        <label htmlFor={`image-push-ref-${shortId(img.id)}`} className="label">
          Tag to push (to the registry its name starts with; tag it first to push elsewhere)
        </label>
        <select id={`image-push-ref-${shortId(img.id)}`} className="input font-mono" value={ref} onChange={(e) => setRef(e.target.value)}>
          {img.repoTags.map((t) => (
            <option key={t} value={t}>
              {t}
            </option>
          ))}
        </select>
      </div>
    </Form>
  );
}
