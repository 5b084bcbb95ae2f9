'use client';
// Every image of every host in the user's teams, with its host: searched and paged on the
// server, fresh whenever a host goes on or offline. Acting on an image happens on its host's page.
import Link from 'next/link';
import { useState } from 'react';
import { DataTable } from '../components/data-table';
import { Field } from '../components/form';
import { Pager } from '../components/pager';
import { ErrorText, Section } from '../components/ui';
import { formatBytes, shortId, timeAgo } from '../lib/format';
import { useHostsChanged } from '../lib/socket';
import { trpc } from '../lib/trpc';
import { useNow } from '../lib/use-now';

const PAGE_SIZE = 50;

export default function FleetImagesPage() {
  const [search, setSearch] = useState('');
  const [page, setPage] = useState(1);
  const utils = trpc.useUtils();
  const q = trpc.images.fleet.useQuery({ search: search.trim() || undefined, page, pageSize: PAGE_SIZE }, { placeholderData: (prev) => prev, refetchInterval: 15_000 });
  useHostsChanged(() => void utils.images.fleet.invalidate());
  const now = useNow();
  const rows = q.data?.rows ?? [];

  return (
    <div className="space-y-5">
      <h1 className="text-xl font-semibold">Images across the fleet</h1>
      <Section title={`Images (${q.data ? q.data.total : '…'})`}>
        <div className="mb-3 flex flex-wrap items-end justify-between gap-3">
          <Field
            id="fleet-image-search"
            label="Search (tag, id, host)"
            className="w-80"
            value={search}
            placeholder="busybox, sha256:12ab…, host name"
            onChange={(e) => {
              setSearch(e.target.value);
              setPage(1);
            }}
          />
          {q.data ? (
            <p className="text-xs text-slate-500" data-testid="fleet-hosts">
              {q.data.hosts} host{q.data.hosts === 1 ? '' : 's'}
              {q.data.offline.length ? `; offline, so not listed: ${q.data.offline.join(', ')}` : ''}
            </p>
          ) : null}
        </div>
        <ErrorText testId="fleet-images-error">{q.error?.message}</ErrorText>
        <DataTable
          testId="fleet-images-table"
          columns={['Host', 'Tags', 'ID', { label: 'Size', align: 'right' }, 'Created', 'In use']}
          loading={q.isLoading}
          empty={q.data && rows.length === 0 ? (search.trim() ? 'No image matches.' : 'No images on any online host.') : null}
        >
          {rows.map((img) => (
            <tr key={`${img.hostId}/${img.id}`} data-testid="fleet-image-row" data-host-id={img.hostId} data-image-id={img.id} className="align-top hover:bg-slate-50">
              <td className="px-4 py-2.5">
                <Link href={`/hosts/${img.hostId}/images?q=${encodeURIComponent(img.id)}`} className="text-sky-700 hover:underline" data-testid="fleet-image-host">
                  {img.hostName}
                </Link>
              </td>
              <td className="px-4 py-2.5 font-mono text-xs" data-testid="fleet-image-tags">
                {img.repoTags.length ? img.repoTags.map((t) => <div key={t}>{t}</div>) : <span className="text-slate-400">&lt;none&gt;:&lt;none&gt;</span>}
              </td>
              <td className="px-4 py-2.5 font-mono text-xs text-slate-600" title={img.id}>
                {shortId(img.id)}
              </td>
              <td className="px-4 py-2.5 text-right tabular-nums">{formatBytes(img.size)}</td>
              <td className="px-4 py-2.5 text-slate-600" title={img.created}>
                {timeAgo(img.created, now)}
              </td>
              <td className="px-4 py-2.5 text-slate-600">{img.containers ? `${img.containers} container${img.containers === 1 ? '' : 's'}` : <span className="text-slate-400">unused</span>}</td>
            </tr>
          ))}
        </DataTable>
        {q.data ? <Pager page={q.data.page} pageSize={q.data.pageSize} total={q.data.total} onPage={setPage} testId="fleet-images-pager" /> : null}
      </Section>
    </div>
  );
}
