import { startTestApi } from './test/helpers/api-deps.js';
const api = await startTestApi();
console.log(api.url, api.net.id('vm1'));
process.on('SIGTERM', () => { void api.close().then(() => process.exit(0)); });
