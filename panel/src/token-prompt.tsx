// Asked for when the API answers 401. The token is kept in sessionStorage only: it is gone when the
// tab closes, and never written anywhere else.
import { useState } from 'preact/hooks';
import { setToken } from './api.js';
import { valueOf } from './ui.js';

export function TokenPrompt({ reason, hadToken, onDone }: { reason: string; hadToken: boolean; onDone: () => void }) {
  const [value, setValue] = useState('');
  return (
    <section class="token-prompt" aria-labelledby="token-title">
      <h1 id="token-title">This daemon needs an API token</h1>
      <p>The API answered <code>401 unauthorized</code>{hadToken ? ' to the token given' : ''}: <q class="reason">{reason}</q>.</p>
      <p>Enter a bearer token from the daemon's configuration (<code>api.tokens</code>). It is kept for this
        browser tab only (sessionStorage) and sent with every API call.</p>
      <form onSubmit={(e) => { e.preventDefault(); if (value.trim() !== '') { setToken(value.trim()); onDone(); } }}>
        <label for="token-input">Token</label>
        <input id="token-input" type="password" autocomplete="off" autofocus value={value} onInput={(e) => setValue(valueOf(e))} />
        <button type="submit" class="primary">Use token</button>
      </form>
    </section>
  );
}
