// One process-wide logger. Operators grep the message text (the Go shim's lines), so messages are
// printed as given; the level prefix and timestamp are ours.

type Level = 'debug' | 'info' | 'warn' | 'error';

let debugEnabled = false;
let sink: (line: string) => void = (line) => process.stderr.write(`${line}\n`);

export function setDebug(enabled: boolean): void {
  debugEnabled = enabled;
}

/** Tests capture log output through this. */
export function setLogSink(fn: (line: string) => void): void {
  sink = fn;
}

function write(level: Level, msg: string): void {
  if (level === 'debug' && !debugEnabled) return;
  sink(`${new Date().toISOString()} ${level.toUpperCase().padEnd(5)} ${msg}`);
}

export const log = {
  debug: (msg: string) => write('debug', msg),
  info: (msg: string) => write('info', msg),
  warn: (msg: string) => write('warn', msg),
  error: (msg: string) => write('error', msg),
};
