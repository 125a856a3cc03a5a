/**
 * Whether a primary answers at its HTTP API: any HTTP answer to GET /health
 * (healthy or not) means a process is there, writes may still reach it, and
 * a takeover would make two primaries. Nothing listening, or no answer
 * within the bound, means it is down (or cut off: the operator decides).
 */
export async function primaryAnswers(url: string, timeoutMs = 2000): Promise<boolean> {
  try {
    const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(timeoutMs) })
    await res.body?.cancel()
    return true
  } catch {
    return false
  }
}
