/**
 * Let the event loop run: a long computation whose awaits all resolve at once (tensor reads on
 * the wasm and cpu backends are ready immediately) would otherwise starve timers, signals
 * (SIGINT) and messages (a browser worker's cancel) until it ends. A macrotask, not a
 * microtask: setImmediate in Node; in a browser a message to itself, since nested zero timeouts
 * are clamped to 4 ms there (HTML's timer nesting rule: a run of small evaluations paid it on each).
 */
export function yieldToEventLoop(): Promise<void> {
  if (typeof setImmediate === 'function') return new Promise((r) => setImmediate(r));
  if (typeof MessageChannel === 'function') {
    // (the DOM's MessagePort; this file is typed with Node's, whose port has no onmessage)
    const { port1, port2 } = new MessageChannel() as unknown as { port1: { onmessage: (() => void) | null; close(): void }; port2: { postMessage(m: null): void } };
    return new Promise((r) => {
      port1.onmessage = () => { port1.close(); r(); };
      port2.postMessage(null);
    });
  }
  return new Promise((r) => setTimeout(r, 0));
}
