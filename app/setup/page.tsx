'use client';
import { useRouter } from 'next/navigation';
import { useState, type FormEvent } from 'react';
import { Brand } from '../components/brand';
import { ErrorText } from '../components/ui';
import { trpc } from '../lib/trpc';

export default function SetupPage() {
  const router = useRouter();
  const utils = trpc.useUtils();
  const [email, setEmail] = useState('');
  const [name, setName] = useState('');
  const [password, setPassword] = useState('');
  const [confirm, setConfirm] = useState('');
  const [localError, setLocalError] = useState<string | null>(null);
  const setup = trpc.auth.setup.useMutation({
    onSuccess: async () => {
      await utils.auth.status.invalidate();
      router.replace('/login');
    },
  });

  function onSubmit(e: FormEvent) {
    e.preventDefault();
    setLocalError(null);
    if (password.length < 8) return setLocalError('The password needs at least 8 characters.');
    if (password !== confirm) return setLocalError('The two passwords differ.');
    setup.mutate({ email: email.trim(), name: name.trim(), password });
  }

  return (
    <div className="w-full max-w-md">
      <Brand />
      <form onSubmit={onSubmit} className="card space-y-4 p-6" aria-labelledby="setup-title" data-testid="setup-form">
        <div>
          <h1 id="setup-title" className="text-lg font-semibold">
            Create the first administrator
          </h1>
          <p className="mt-1 text-sm text-slate-600">
            This account owns the Default team and this machine. You can invite others afterwards.
          </p>
        </div>
        <div>
          <label htmlFor="setup-name" className="label">
            Name
          </label>
          <input id="setup-name" className="input" value={name} onChange={(e) => setName(e.target.value)} required autoComplete="name" />
        </div>
        <div>
          <label htmlFor="setup-email" className="label">
            Email
          </label>
          <input
            id="setup-email"
            type="email"
            className="input"
            value={email}
            onChange={(e) => setEmail(e.target.value)}
            required
            autoComplete="username"
          />
        </div>
        <div>
          <label htmlFor="setup-password" className="label">
            Password
          </label>
          <input
            id="setup-password"
            type="password"
            className="input"
            value={password}
            onChange={(e) => setPassword(e.target.value)}
            required
            minLength={8}
            autoComplete="new-password"
          />
        </div>
        <div>
          <label htmlFor="setup-confirm" className="label">
            Confirm password
          </label>
          <input
            id="setup-confirm"
            type="password"
            className="input"
            value={confirm}
            onChange={(e) => setConfirm(e.target.value)}
            required
            autoComplete="new-password"
          />
        </div>
        <ErrorText testId="setup-error">{localError ?? setup.error?.message}</ErrorText>
        <button type="submit" className="btn-primary w-full" disabled={setup.isPending}>
          {setup.isPending ? 'Creating…' : 'Create administrator'}
        </button>
      </form>
    </div>
  );
}
