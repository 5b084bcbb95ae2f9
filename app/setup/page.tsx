'use client';
import { useRouter } from 'next/navigation';
import { useState } from 'react';
import { Brand } from '../components/brand';
import { Field, Form } from '../components/form';
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

  function onSubmit() {
    setLocalError(null);
    if (password.length < 8) return setLocalError('The password needs at least 8 characters.');
    if (password !== confirm) return setLocalError('The two passwords differ.');
    setup.mutate({ email: email.trim(), name: name.trim(), password });
  }

  return (
    <div className="w-full max-w-md">
      <Brand />
      <Form
        onSubmit={onSubmit}
        className="card p-6"
        labelledBy="setup-title"
        testId="setup-form"
        submitLabel="Create administrator"
        pendingLabel="Creating…"
        pending={setup.isPending}
        wideSubmit
        error={localError ?? setup.error?.message}
        errorTestId="setup-error"
      >
        <div>
          <h1 id="setup-title" className="text-lg font-semibold">
            Create the first administrator
          </h1>
          <p className="mt-1 text-sm text-slate-600">
            This account owns the Default team and this machine. You can invite others afterwards.
          </p>
        </div>
        <Field id="setup-name" label="Name" value={name} onChange={(e) => setName(e.target.value)} required autoComplete="name" />
        <Field
          id="setup-email"
          label="Email"
          type="email"
          value={email}
          onChange={(e) => setEmail(e.target.value)}
          required
          autoComplete="username"
        />
        <Field
          id="setup-password"
          label="Password"
          type="password"
          value={password}
          onChange={(e) => setPassword(e.target.value)}
          required
          minLength={8}
          autoComplete="new-password"
        />
        <Field
          id="setup-confirm"
          label="Confirm password"
          type="password"
          value={confirm}
          onChange={(e) => setConfirm(e.target.value)}
          required
          autoComplete="new-password"
        />
      </Form>
    </div>
  );
}
