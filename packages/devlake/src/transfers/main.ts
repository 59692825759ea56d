import { parseArgs } from 'node:util';
import { DEFAULT_FAILURE_PATTERN } from '../catalogue.js';
import { TransferService } from './service.js';

const { values } = parseArgs({
  options: { port: { type: 'string' }, 'failures-file': { type: 'string' } }
});
const port = Number(values.port);
if (!Number.isInteger(port) || port <= 0) {
  console.error('devlake transfer service: give the port to listen on with --port N.');
  process.exit(2);
}
const service = new TransferService({
  failuresFile: values['failures-file'],
  defaultFailures: [DEFAULT_FAILURE_PATTERN]
});
await service.listen(port);
console.log(`devlake transfer service listening on http://127.0.0.1:${port}`);
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    void service.close().then(() => process.exit(0));
  });
}
