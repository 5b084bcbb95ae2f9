'use client';
import { useEffect, useState } from 'react';
import { readThemeChoice, setThemeChoice, THEME_CHOICES, type ThemeChoice } from '../lib/theme';

const LABELS: Record<ThemeChoice, string> = { system: 'System theme', light: 'Light', dark: 'Dark' };

/** System / Light / Dark, remembered in this browser. */
export function ThemeSwitcher({ className = '' }: { className?: string }) {
  // Read after mount: the server does not know what this browser chose.
  const [choice, setChoice] = useState<ThemeChoice>('system');
  useEffect(() => setChoice(readThemeChoice()), []);
  return (
    <select
      aria-label="Theme"
      title="Colour theme"
      data-testid="theme-switcher"
      value={choice}
      onChange={(e) => {
        const c = e.target.value as ThemeChoice;
        setChoice(c);
        setThemeChoice(c);
      }}
      className={`rounded border border-slate-600 bg-slate-900 px-1.5 py-1 text-xs text-slate-200 hover:bg-slate-800 ${className}`}
    >
      {THEME_CHOICES.map((c) => (
        <option key={c} value={c}>
          {LABELS[c]}
        </option>
      ))}
    </select>
  );
}
