/**
 * Wraps a node's presence refresh: when the last one that passed is older than the presence
 * lifetime (the process was stopped, or Redis out of reach, that long), this node's devices have
 * lapsed meanwhile. Other nodes then counted them gone and may have ended their calls, events
 * that were never sent here; `onLapsed` hears it before the refresh brings the devices back.
 */
export function refreshWatchingLapse(
  refresh: () => Promise<void>,
  lifetimeMs: number,
  onLapsed: () => void,
  now: () => number = Date.now,
): () => Promise<void> {
  let refreshedAt = now()
  return async () => {
    const started = now()
    if (started - refreshedAt > lifetimeMs) onLapsed()
    await refresh()
    refreshedAt = started
  }
}
