// Entry of the decode worker threads (see decode-pool.ts). Unbundled it is out/src/data/decode-worker.js;
// bundled, build it as dist/decode-worker.js, or let a bundle re-enter itself.
import { runDataWorkerIfRequested } from './decode-pool';

runDataWorkerIfRequested();
