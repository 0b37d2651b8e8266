// One line of feedback that survives a route change ("Trace … deleted"), shown by the app shell.
import { useEffect, useState } from 'preact/hooks';

let text: string | null = null;
const listeners = new Set<(t: string | null) => void>();

export function flash(t: string | null): void {
  text = t;
  for (const l of listeners) l(t);
}

export function useFlash(): string | null {
  const [t, setT] = useState(text);
  useEffect(() => {
    listeners.add(setT);
    return () => { listeners.delete(setT); };
  }, []);
  return t;
}
