// The shell: navigation, the one-line notice, the token prompt, and the view the hash names.
import { useEffect, useState } from 'preact/hooks';
import { getToken, setToken, whenUnauthorized } from './api.js';
import { ConditionForm } from './condition-form.js';
import { CompareView } from './compare-view.js';
import { Conditions } from './conditions.js';
import { flash, routeChanged, useFlash } from './flash.js';
import { href, useRoute, type Route } from './route.js';
import { TokenPrompt } from './token-prompt.js';
import { TraceList } from './trace-list.js';
import { TraceView } from './trace-view.js';

function View({ route }: { route: Route }) {
  switch (route.view) {
    case 'traces': return <TraceList query={route.query} />;
    case 'trace': return <TraceView id={route.id} />;
    case 'compare': return <CompareView a={route.a} b={route.b} />;
    case 'conditions': return <Conditions />;
    case 'condition-new': return <ConditionForm />;
    case 'condition-edit': return <ConditionForm id={route.id} />;
  }
}

export function App() {
  const route = useRoute();
  const notice = useFlash();
  const [needToken, setNeedToken] = useState<string | null>(null);
  // Bumped after a token is entered so the current view loads again with it.
  const [epoch, setEpoch] = useState(0);
  useEffect(() => whenUnauthorized((message) => setNeedToken(message)), []);
  // A notice is a moment's feedback; it fades after a few seconds.
  useEffect(() => {
    const t = setTimeout(() => flash(null), 6000);
    return () => clearTimeout(t);
  }, [notice]);
  useEffect(routeChanged, [route]);
  const section = route.view.startsWith('condition') ? 'conditions' : 'traces';
  return (
    <>
      <a class="skip" href="#main">Skip to content</a>
      <header class="top">
        <span class="brand">midotrace</span>
        <nav aria-label="Sections">
          <a href={href.traces()} aria-current={section === 'traces' ? 'page' : undefined}>Traces</a>
          <a href={href.conditions()} aria-current={section === 'conditions' ? 'page' : undefined}>Trace conditions</a>
        </nav>
        {getToken() !== null ? (
          <button type="button" class="link" onClick={() => { setToken(null); setEpoch(epoch + 1); }}>Forget token</button>
        ) : null}
      </header>
      <main id="main" tabIndex={-1}>
        {notice !== null ? <div class="notice" role="status">{notice}</div> : null}
        {needToken !== null
          ? <TokenPrompt reason={needToken} hadToken={getToken() !== null} onDone={() => { setNeedToken(null); setEpoch(epoch + 1); }} />
          : <View key={`${epoch}`} route={route} />}
      </main>
    </>
  );
}
