'use client';
import { useEffect, useState } from 'react';
import { readThemeChoice, setThemeChoice, THEME_CHOICES, type ThemeChoice } from '../lib/theme';

const LABELS: Record<ThemeChoice, string> = { system: 'System theme', light: 'Light', dark: 'Dark' };

/** System / Light / Dark, remembered in this browser; `page` styles it for a page rather than the (always dark) header. */
export function ThemeSwitcher({ className = '', variant = 'header', id }: { className?: string; variant?: 'header' | 'page'; id?: string }) {
  // Read after mount: the server does not know what this browser chose. Followed afterwards,
  // so that another switcher on the page, or another tab, moving the choice shows here too.
  const [choice, setChoice] = useState<ThemeChoice>('system');
  useEffect(() => {
    setChoice(readThemeChoice());
    const obs = new MutationObserver(() => setChoice(readThemeChoice()));
    obs.observe(document.documentElement, { attributes: true, attributeFilter: ['data-theme-choice'] });
    return () => obs.disconnect();
  }, []);
  return (
    <select
      id={id}
      aria-label={id ? undefined : 'Theme'}
      title="Colour theme"
      data-testid={variant === 'header' ? 'theme-switcher' : 'theme-switcher-page'}
      value={choice}
      onChange={(e) => {
        const c = e.target.value as ThemeChoice;
        setChoice(c);
        setThemeChoice(c);
      }}
      className={`${variant === 'header' ? 'rounded border border-slate-600 bg-slate-900 px-1.5 py-1 text-xs text-slate-200 hover:bg-slate-800' : 'input w-auto'} ${className}`}
    >
      {THEME_CHOICES.map((c) => (
        <option key={c} value={c}>
          {LABELS[c]}
        </option>
      ))}
    </select>
  );
}
