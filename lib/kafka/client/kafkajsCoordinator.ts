/**
 * kafkajs looks the transaction coordinator up (a FindCoordinator request)
 * before every call it makes to it: AddPartitionsToTxn and EndTxn, so a
 * one-marker transaction of the mover is five requests where three do
 * (AddPartitionsToTxn, Produce, EndTxn), and two round trips of every
 * group's commit wait on the lookups. The coordinator of a transactional
 * id moves only when the leader of its __transaction_state partition does.
 *
 * This keeps the broker a lookup found, per kafkajs cluster (each producer
 * has its own) and transactional id, until a call to it fails: then the
 * next call looks it up again, as kafkajs always did (but for
 * CONCURRENT_TRANSACTIONS: the coordinator itself, still busy with the
 * previous transaction's markers). A moved coordinator
 * answers NOT_COORDINATOR, a dead one fails to connect: a send's
 * AddPartitionsToTxn is retried by kafkajs's producer retrier, which looks
 * the coordinator up again; a failed EndTxn fails the journal write, and the
 * mover goes on with a new producer (a new cluster: nothing kept), as
 * before.
 * Only transaction coordinators are kept: consumer groups look theirs up
 * as before.
 *
 * kafkajs has no setting for it, so `patchKafkajsCoordinator` wraps its
 * Cluster.prototype.findGroupCoordinator (looked up at each call, so the
 * order of imports does not matter); the seam's kafkajs producer applies it.
 */
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)

/** kafkajs's COORDINATOR_TYPES.TRANSACTION. */
const TRANSACTION = 1

interface FindArgs {
  groupId: string
  coordinatorType?: number
}

type Find = (args: FindArgs) => Promise<object>

/**
 * `find` with its transaction coordinators kept until a call on one fails. Pure apart from `find`: the cache is
 * the returned function's own. A lookup in flight is shared; a failed lookup is not kept.
 */
export function keepTransactionCoordinators(find: Find): Find {
  const kept = new Map<string, Promise<object>>()
  return (args) => {
    if (args.coordinatorType !== TRANSACTION) return find(args)
    const hit = kept.get(args.groupId)
    if (hit !== undefined) return hit
    const forget = (): void => {
      if (kept.get(args.groupId) === found) kept.delete(args.groupId)
    }
    const found = find(args).then((broker) => forgetOnFailure(broker, forget))
    kept.set(args.groupId, found)
    found.catch(forget)
    return found
  }
}

/**
 * Answers that come from the coordinator itself, busy: no reason to look it up again. CONCURRENT_TRANSACTIONS is what
 * it answers while it still writes the previous transaction's markers (kafkajs retries it).
 */
const COORDINATOR_BUSY = new Set(['CONCURRENT_TRANSACTIONS'])

/**
 * `broker` whose methods call `forget` when they throw or their promise rejects, unless the coordinator only said it
 * is busy; the failure still reaches the caller.
 */
function forgetOnFailure(broker: object, forget: () => void): object {
  const failed = (err: unknown): void => {
    if (!COORDINATOR_BUSY.has(String((err as { type?: unknown } | undefined)?.type))) forget()
  }
  return new Proxy(broker, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver)
      if (typeof value !== 'function') return value
      return (...args: unknown[]): unknown => {
        let result: unknown
        try {
          result = (value as (...a: unknown[]) => unknown).apply(target, args)
        } catch (err) {
          failed(err)
          throw err
        }
        if (result instanceof Promise) result.catch(failed)
        return result
      }
    },
  })
}

const PATCHED = Symbol.for('xrc.kafkajsCoordinatorKept')

/** Wraps kafkajs's Cluster.prototype.findGroupCoordinator (once); the reason it did not, when kafkajs changed. */
export function patchKafkajsCoordinator(): string | undefined {
  const Cluster = require('kafkajs/src/cluster/index.js') as {
    prototype: { findGroupCoordinator: Find & { [PATCHED]?: true } }
  }
  const own = Cluster.prototype.findGroupCoordinator
  if (own[PATCHED]) return undefined
  if (typeof own !== 'function' || !own.toString().includes('findGroupCoordinatorMetadata'))
    return 'findGroupCoordinator changed'
  const perCluster = new WeakMap<object, Find>()
  const patched = function findGroupCoordinator(this: object, args: FindArgs): Promise<object> {
    let find = perCluster.get(this)
    if (find === undefined) {
      find = keepTransactionCoordinators((a) => own.call(this, a))
      perCluster.set(this, find)
    }
    return find(args)
  } as Find & { [PATCHED]?: true }
  patched[PATCHED] = true
  Cluster.prototype.findGroupCoordinator = patched
  return undefined
}
