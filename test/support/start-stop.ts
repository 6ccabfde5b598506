// Starts the shim in this process with the config file given, waits until its first cluster
// read is done, stops it, and returns: the process must then end by itself (nothing left open).
//
//   node dist/test/support/start-stop.js CONFIG

import { startShim } from '../../src/app.js';

const shim = await startShim(process.argv[2]!);
await new Promise((r) => setTimeout(r, 500));
await shim.stop();
process.stdout.write('stopped\n');
