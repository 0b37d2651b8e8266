// Entry point of the bundle (panel/build.ts writes it to panel/dist/app.js).
import { render } from 'preact';
import { App } from './app.js';

render(<App />, document.getElementById('app')!);
