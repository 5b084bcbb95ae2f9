'use client';
// Stacks from a Git repository in the browser: the "From Git" form of the stacks page, and
// on a stack's page its Git source (the commit deployed, the last check and error, the
// webhook URL with a copy button, Redeploy now, the settings, a new webhook secret, detach).
// The token and the webhook secret are never read back: the secret is shown once, when
// made or rotated, and the token only as "set".
import Link from 'next/link';
import { useEffect, useState } from 'react';
import { STACK_NAME } from '../../../../protocol/stacks';
import { GIT_POLL_MIN_SECONDS, type GitStackInfo } from '../../../../protocol/stacks-git';
import { ConfirmDialog } from '../../../components/confirm-dialog';
import { Field, Form } from '../../../components/form';
import { ErrorText, Notice, Section } from '../../../components/ui';
import { trpc } from '../../../lib/trpc';

function webhookUrl(path: string): string {
  return typeof window === 'undefined' ? path : `${window.location.origin}${path}`;
}

function CopyButton({ text, testId }: { text: string; testId: string }) {
  const [copied, setCopied] = useState(false);
  return (
    <button
      type="button"
      className="btn-secondary px-2 py-1 text-xs"
      data-testid={testId}
      onClick={() => {
        navigator.clipboard.writeText(text).then(
          () => setCopied(true),
          // Clipboard access needs a secure context; the text stays selectable.
          () => setCopied(false),
        );
      }}
    >
      {copied ? 'Copied' : 'Copy'}
    </button>
  );
}

/** The secret, this once, with the URL to give the Git host. */
function SecretOnce({ path, secret }: { path: string; secret: string }) {
  const url = webhookUrl(path);
  return (
    <Notice testId="git-webhook-secret-once">
      <p className="font-medium">Webhook secret (shown this once; rotate it to get a new one):</p>
      <p className="mt-1 flex flex-wrap items-center gap-2">
        <code className="break-all font-mono text-xs" data-testid="git-webhook-secret">
          {secret}
        </code>
        <CopyButton text={secret} testId="git-webhook-secret-copy" />
      </p>
      <p className="mt-2 text-xs">
        GitHub: payload URL <code className="break-all">{url}</code>, content type application/json, this secret. GitLab and Gitea: the same URL, the secret as the token. Any other caller: POST{' '}
        <code className="break-all">{url}?secret=…</code>
      </p>
    </Notice>
  );
}

export function NewGitStackForm({ hostId, taken }: { hostId: string; taken: (name: string) => boolean }) {
  const [name, setName] = useState('');
  const [url, setUrl] = useState('');
  const [branch, setBranch] = useState('main');
  const [composePath, setComposePath] = useState('compose.yaml');
  const [envPath, setEnvPath] = useState('');
  const [username, setUsername] = useState('');
  const [token, setToken] = useState('');
  const [poll, setPoll] = useState('0');
  const [problem, setProblem] = useState('');
  const create = trpc.stackGit.create.useMutation();
  const made = create.data;
  return (
    <Section title="New stack from Git">
      <Form
        testId="git-stack-form"
        submitLabel="Deploy from Git"
        pendingLabel="Fetching and deploying…"
        pending={create.isPending}
        canSubmit={!!name.trim() && !!url.trim() && !!branch.trim() && !!composePath.trim()}
        error={problem || create.error?.message}
        errorTestId="git-stack-error"
        onSubmit={() => {
          const n = name.trim();
          if (!STACK_NAME.test(n) || n.length > 63) return setProblem('a stack name has lower case letters, digits, "-" and "_", and starts with a letter or digit');
          if (taken(n)) return setProblem(`there is a stack ${n} on this host already`);
          const seconds = Number(poll || '0');
          if (!Number.isInteger(seconds) || seconds < 0 || (seconds > 0 && seconds < GIT_POLL_MIN_SECONDS)) return setProblem(`polling: 0 (off) or at least ${GIT_POLL_MIN_SECONDS} seconds`);
          setProblem('');
          create.mutate({ hostId, name: n, url: url.trim(), branch: branch.trim(), composePath: composePath.trim(), ...(envPath.trim() ? { envPath: envPath.trim() } : {}), ...(username.trim() ? { username: username.trim() } : {}), ...(token ? { token } : {}), pollSeconds: seconds });
        }}
      >
        <div className="grid gap-3 sm:grid-cols-2">
          <Field id="git-stack-name" label="Stack name" inputClassName="font-mono" placeholder="shop" value={name} onChange={(e) => setName(e.target.value)} required />
          <Field id="git-stack-url" label="Repository URL (https://…)" inputClassName="font-mono" placeholder="https://git.example.com/team/shop.git" value={url} onChange={(e) => setUrl(e.target.value)} required />
          <Field id="git-stack-branch" label="Branch" inputClassName="font-mono" value={branch} onChange={(e) => setBranch(e.target.value)} required />
          <Field id="git-stack-path" label="Compose file in the repository" inputClassName="font-mono" value={composePath} onChange={(e) => setComposePath(e.target.value)} required />
          <Field id="git-stack-env-path" label=".env in the repository (optional)" inputClassName="font-mono" placeholder="deploy/.env" value={envPath} onChange={(e) => setEnvPath(e.target.value)} />
          <Field id="git-stack-poll" label={`Check every … seconds (0: no polling; at least ${GIT_POLL_MIN_SECONDS})`} type="number" min={0} value={poll} onChange={(e) => setPoll(e.target.value)} />
          <Field id="git-stack-username" label="HTTPS username (optional)" autoComplete="off" value={username} onChange={(e) => setUsername(e.target.value)} />
          <Field id="git-stack-token" label="Token or password (optional; kept encrypted, never shown again)" type="password" autoComplete="new-password" value={token} onChange={(e) => setToken(e.target.value)} />
        </div>
      </Form>
      {made ? (
        <div className="mt-4 space-y-2" data-testid="git-stack-created" data-commit={made.info.lastCommit ?? ''}>
          <p className="text-sm">
            Deployed <span className="font-mono">{made.info.lastCommit?.slice(0, 12)}</span> as{' '}
            <Link className="text-sky-700 hover:underline" href={`/hosts/${hostId}/stacks/${name.trim()}`} data-testid="git-stack-open">
              {name.trim()}
            </Link>
            .
          </p>
          <SecretOnce path={made.info.webhookPath} secret={made.webhookSecret} />
        </div>
      ) : null}
    </Section>
  );
}

const when = (d: Date | null) => (d ? new Date(d).toLocaleString() : 'never');

/** The stack's Git source; null for a stack not from Git. Calls onSynced after a redeploy so the page reloads the stack. */
export function GitSourceSection({ hostId, name, info, canOperate, onChanged }: { hostId: string; name: string; info: GitStackInfo; canOperate: boolean; onChanged: () => void }) {
  const redeploy = trpc.stackGit.redeploy.useMutation({ onSettled: onChanged });
  const rotate = trpc.stackGit.rotateSecret.useMutation();
  const detach = trpc.stackGit.detach.useMutation({ onSettled: onChanged });
  const [detaching, setDetaching] = useState(false);
  const [editing, setEditing] = useState(false);
  const url = webhookUrl(info.webhookPath);
  return (
    <Section title="Git source">
      <div data-testid="git-source" data-commit={info.lastCommit ?? ''} data-error={info.lastError ? '1' : ''} className="space-y-3 text-sm">
        <dl className="grid gap-x-4 gap-y-1 sm:grid-cols-[auto_1fr]">
          <dt className="text-slate-500">Repository</dt>
          <dd className="break-all font-mono text-xs" data-testid="git-source-url">{info.url}</dd>
          <dt className="text-slate-500">Branch, file</dt>
          <dd className="font-mono text-xs">
            {info.branch} · {info.composePath}
            {info.envPath ? ` · ${info.envPath}` : ''}
          </dd>
          <dt className="text-slate-500">Deployed commit</dt>
          <dd className="font-mono text-xs" data-testid="git-source-commit" title={info.lastCommit ?? ''}>
            {info.lastCommit ? info.lastCommit.slice(0, 12) : 'none yet'} <span className="font-sans text-slate-500">({when(info.lastDeployAt)})</span>
          </dd>
          <dt className="text-slate-500">Last check</dt>
          <dd data-testid="git-source-checked">
            {when(info.lastCheckAt)} · {info.pollSeconds ? `polled every ${info.pollSeconds} s` : 'no polling (webhook or Redeploy now)'}
          </dd>
          <dt className="text-slate-500">Credentials</dt>
          <dd>{info.tokenSet ? `token set${info.username ? ` for ${info.username}` : ''}` : 'none'}</dd>
          <dt className="text-slate-500">Webhook</dt>
          <dd className="flex flex-wrap items-center gap-2">
            <code className="break-all font-mono text-xs" data-testid="git-webhook-url">
              {url}
            </code>
            <CopyButton text={url} testId="git-webhook-copy" />
          </dd>
        </dl>
        {info.lastError ? <ErrorText testId="git-source-error">{`Last error: ${info.lastError}`}</ErrorText> : null}
        {canOperate ? (
          <div className="flex flex-wrap gap-2">
            <button type="button" className="btn-primary" data-testid="git-redeploy" disabled={redeploy.isPending} onClick={() => redeploy.mutate({ hostId, name })}>
              {redeploy.isPending ? 'Fetching and deploying…' : 'Redeploy now'}
            </button>
            <button type="button" className="btn-secondary" data-testid="git-settings" onClick={() => setEditing(!editing)}>
              {editing ? 'Close settings' : 'Settings…'}
            </button>
            <button type="button" className="btn-secondary" data-testid="git-rotate" disabled={rotate.isPending} onClick={() => rotate.mutate({ hostId, name })}>
              New webhook secret
            </button>
            <button type="button" className="btn-secondary" data-testid="git-detach" onClick={() => setDetaching(true)}>
              Detach from Git…
            </button>
          </div>
        ) : null}
        <ErrorText testId="git-action-error">{redeploy.error?.message ?? rotate.error?.message ?? detach.error?.message}</ErrorText>
        {redeploy.data ? <Notice testId="git-redeployed">{redeploy.data.outcome === 'deployed' ? `Deployed ${redeploy.data.commit?.slice(0, 12)}.` : redeploy.data.outcome}</Notice> : null}
        {rotate.data ? <SecretOnce path={info.webhookPath} secret={rotate.data.webhookSecret} /> : null}
        {editing && canOperate ? <GitSettings hostId={hostId} name={name} info={info} onSaved={() => { setEditing(false); onChanged(); }} /> : null}
      </div>
      <ConfirmDialog
        open={detaching}
        title={`Detach ${name} from Git?`}
        confirmLabel="Detach"
        testId="git-detach-dialog"
        onCancel={() => setDetaching(false)}
        onConfirm={() => {
          setDetaching(false);
          detach.mutate({ hostId, name });
        }}
      >
        <p>The stack keeps running as deployed. Its compose file is edited here from now on; pushes and polling no longer change it, and the webhook URL stops working.</p>
      </ConfirmDialog>
    </Section>
  );
}

function GitSettings({ hostId, name, info, onSaved }: { hostId: string; name: string; info: GitStackInfo; onSaved: () => void }) {
  const [url, setUrl] = useState(info.url);
  const [branch, setBranch] = useState(info.branch);
  const [composePath, setComposePath] = useState(info.composePath);
  const [envPath, setEnvPath] = useState(info.envPath ?? '');
  const [poll, setPoll] = useState(String(info.pollSeconds));
  const [username, setUsername] = useState(info.username ?? '');
  const [token, setToken] = useState('');
  const [clearToken, setClearToken] = useState(false);
  const update = trpc.stackGit.update.useMutation({ onSuccess: onSaved });
  useEffect(() => setClearToken(false), [info.tokenSet]);
  return (
    <Form
      testId="git-settings-form"
      submitLabel="Save"
      pendingLabel="Saving…"
      pending={update.isPending}
      error={update.error?.message}
      errorTestId="git-settings-error"
      onSubmit={() =>
        update.mutate({
          hostId,
          name,
          url: url.trim(),
          branch: branch.trim(),
          composePath: composePath.trim(),
          envPath: envPath.trim() || null,
          pollSeconds: Number(poll || '0'),
          // Without a token the username would be used for nothing.
          username: clearToken ? null : username.trim() || null,
          ...(clearToken ? { token: null } : token ? { token } : {}),
        })
      }
    >
      <div className="grid gap-3 sm:grid-cols-2">
        <Field id="git-set-url" label="Repository URL" inputClassName="font-mono" value={url} onChange={(e) => setUrl(e.target.value)} required />
        <Field id="git-set-branch" label="Branch" inputClassName="font-mono" value={branch} onChange={(e) => setBranch(e.target.value)} required />
        <Field id="git-set-path" label="Compose file" inputClassName="font-mono" value={composePath} onChange={(e) => setComposePath(e.target.value)} required />
        <Field id="git-set-env-path" label=".env (optional)" inputClassName="font-mono" value={envPath} onChange={(e) => setEnvPath(e.target.value)} />
        <Field id="git-set-poll" label={`Check every … seconds (0: off)`} type="number" min={0} value={poll} onChange={(e) => setPoll(e.target.value)} />
        <Field id="git-set-username" label="HTTPS username" autoComplete="off" value={username} onChange={(e) => setUsername(e.target.value)} />
        <Field id="git-set-token" label={info.tokenSet ? 'New token (blank: keep the one set)' : 'Token (optional)'} type="password" autoComplete="new-password" value={token} onChange={(e) => setToken(e.target.value)} disabled={clearToken} />
        {info.tokenSet ? (
          <label className="flex items-center gap-2 text-sm">
            <input type="checkbox" checked={clearToken} onChange={(e) => setClearToken(e.target.checked)} data-testid="git-set-clear-token" />
            Remove the token
          </label>
        ) : null}
      </div>
    </Form>
  );
}
