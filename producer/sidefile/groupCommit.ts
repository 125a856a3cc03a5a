/**
 * Group commit for a durability step (an fdatasync): callers that ask while
 * one runs share the next run, which covers everything they did before
 * asking. At most one run at a time, at most one queued.
 */
export function createGroupCommit(run: () => Promise<void>): () => Promise<void> {
  let running: Promise<void> | undefined
  let queued: Promise<void> | undefined
  const commit = (): Promise<void> => {
    if (running === undefined) {
      running = run().finally(() => (running = undefined))
      return running
    }
    // the run in progress may have started before the caller's change: it needs the next one
    const again = (): Promise<void> => {
      queued = undefined
      return commit()
    }
    queued ??= running.then(again, again)
    return queued
  }
  return commit
}
