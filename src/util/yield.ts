/**
 * Let the event loop run: a long computation whose awaits all resolve at once (tensor reads on
 * the wasm and cpu backends are ready immediately) would otherwise starve timers, signals
 * (SIGINT) and messages (a browser worker's cancel) until it ends. A macrotask, not a
 * microtask: setImmediate in Node, a zero timeout elsewhere.
 */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((r) => (typeof setImmediate === 'function' ? setImmediate(r) : setTimeout(r, 0)));
}
