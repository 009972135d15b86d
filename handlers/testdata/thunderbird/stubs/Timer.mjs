// Stands in for Gecko's Timer.sys.mjs with Node's timers. (FetchHTTP arms a
// timeout for every request and never clears it; the harness exits as soon
// as it has printed its report, so these do not delay it.)

export function setTimeout(callback, ms, ...args) {
  return globalThis.setTimeout(callback, ms, ...args);
}
export function setInterval(callback, ms, ...args) {
  return globalThis.setInterval(callback, ms, ...args);
}
export const clearTimeout = id => globalThis.clearTimeout(id);
export const clearInterval = id => globalThis.clearInterval(id);
export const setTimeoutWithTarget = (callback, ms, _target, ...args) => setTimeout(callback, ms, ...args);
export const setIntervalWithTarget = (callback, ms, _target, ...args) => setInterval(callback, ms, ...args);
export const requestIdleCallback = callback => setTimeout(() => callback({ didTimeout: false, timeRemaining: () => 0 }), 0);
export const cancelIdleCallback = clearTimeout;
