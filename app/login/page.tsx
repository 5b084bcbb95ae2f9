'use client';
import { useRouter } from 'next/navigation';
import { signIn } from 'next-auth/react';
import { useState, type FormEvent } from 'react';
import { Brand } from '../components/brand';
import { ErrorText } from '../components/ui';
import { trpc } from '../lib/trpc';

export default function LoginPage() {
  const router = useRouter();
  const utils = trpc.useUtils();
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [pending, setPending] = useState(false);

  async function onSubmit(e: FormEvent) {
    e.preventDefault();
    setError(null);
    setPending(true);
    try {
      const res = await signIn('credentials', { email: email.trim(), password, redirect: false });
      if (!res || res.error || !res.ok) {
        setError(
          res?.error && res.error !== 'CredentialsSignin'
            ? `Sign-in failed: ${res.error}`
            : 'Invalid email or password.',
        );
        return;
      }
      await utils.auth.status.invalidate();
      router.replace('/');
    } catch (err) {
      setError(`Sign-in failed: ${err instanceof Error ? err.message : String(err)}`);
    } finally {
      setPending(false);
    }
  }

  return (
    <div className="w-full max-w-sm">
      <Brand />
      <form onSubmit={onSubmit} className="card space-y-4 p-6" aria-labelledby="login-title" data-testid="login-form">
        <h1 id="login-title" className="text-lg font-semibold">
          Sign in
        </h1>
        <div>
          <label htmlFor="login-email" className="label">
            Email
          </label>
          <input
            id="login-email"
            type="email"
            className="input"
            value={email}
            onChange={(e) => setEmail(e.target.value)}
            required
            autoComplete="username"
            autoFocus
          />
        </div>
        <div>
          <label htmlFor="login-password" className="label">
            Password
          </label>
          <input
            id="login-password"
            type="password"
            className="input"
            value={password}
            onChange={(e) => setPassword(e.target.value)}
            required
            autoComplete="current-password"
          />
        </div>
        <ErrorText testId="login-error">{error}</ErrorText>
        <button type="submit" className="btn-primary w-full" disabled={pending}>
          {pending ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </div>
  );
}
