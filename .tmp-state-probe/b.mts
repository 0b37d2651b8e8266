import { benchConntrackMemory } from '../bench/conntrack-memory.js';
const t0 = Date.now();
for (const l of await benchConntrackMemory()) console.log(JSON.stringify(l));
console.log('took', Date.now() - t0, 'ms');
