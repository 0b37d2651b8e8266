// One line of feedback that survives the route change an action ends with ("Trace … deleted"), and
// no further: the next navigation, or a few seconds, clear it.
import { useEffect, useState } from 'preact/hooks';

let text: string | null = null;
let setAt = 0;
const listeners = new Set<(t: string | null) => void>();

export function flash(t: string | null): void {
  text = t;
  setAt = Date.now();
  for (const l of listeners) l(t);
}

/** Called on every route change: a notice set just before it (by the action that navigated) stays. */
export function routeChanged(): void {
  if (text !== null && Date.now() - setAt > 1000) flash(null);
}

export function useFlash(): string | null {
  const [t, setT] = useState(text);
  useEffect(() => {
    listeners.add(setT);
    return () => { listeners.delete(setT); };
  }, []);
  return t;
}
