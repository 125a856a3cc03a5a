import { describe, expect, it } from 'vitest'
import { keepTransactionCoordinators } from './kafkajsCoordinator.js'

const TRANSACTION = 1
const GROUP = 0

/** A fake cluster's lookup: each call makes a new broker whose `endTxn` does what `next` says. */
function fakeLookup() {
  const calls: { groupId: string; coordinatorType?: number }[] = []
  let outcome: 'ok' | 'reject' | 'throw' = 'ok'
  let lookupFails = false
  const find = (args: { groupId: string; coordinatorType?: number }): Promise<object> => {
    calls.push(args)
    if (lookupFails) return Promise.reject(new Error('no coordinator'))
    const broker = {
      id: calls.length,
      endTxn: (): Promise<string> => {
        if (outcome === 'throw') throw new Error('not connected')
        return outcome === 'reject' ? Promise.reject(new Error('NOT_COORDINATOR')) : Promise.resolve('done')
      },
    }
    return Promise.resolve(broker)
  }
  return {
    find,
    calls,
    set(o: typeof outcome) {
      outcome = o
    },
    failLookups(f: boolean) {
      lookupFails = f
    },
  }
}

type FakeBroker = { id: number; endTxn: () => Promise<string> }

describe('keepTransactionCoordinators', () => {
  it('looks a transaction coordinator up once per transactional id, and a group coordinator every time', async () => {
    const f = fakeLookup()
    const find = keepTransactionCoordinators(f.find)
    const a = (await find({ groupId: 'tx-a', coordinatorType: TRANSACTION })) as FakeBroker
    for (let i = 0; i < 5; i++) {
      const again = (await find({ groupId: 'tx-a', coordinatorType: TRANSACTION })) as FakeBroker
      expect(again.id).toBe(a.id)
      await expect(again.endTxn()).resolves.toBe('done')
    }
    await find({ groupId: 'tx-b', coordinatorType: TRANSACTION })
    await find({ groupId: 'g', coordinatorType: GROUP })
    await find({ groupId: 'g', coordinatorType: GROUP })
    await find({ groupId: 'g' })
    expect(f.calls.map((c) => c.groupId)).toEqual(['tx-a', 'tx-b', 'g', 'g', 'g'])
  })

  it('shares a lookup in flight', async () => {
    const f = fakeLookup()
    const find = keepTransactionCoordinators(f.find)
    const [x, y] = await Promise.all([
      find({ groupId: 'tx', coordinatorType: TRANSACTION }),
      find({ groupId: 'tx', coordinatorType: TRANSACTION }),
    ])
    expect(x).toBe(y)
    expect(f.calls).toHaveLength(1)
  })

  it.each(['reject', 'throw'] as const)(
    'looks up again after a call on the kept broker failed (%s), and passes the failure on',
    async (how) => {
      const f = fakeLookup()
      const find = keepTransactionCoordinators(f.find)
      const first = (await find({ groupId: 'tx', coordinatorType: TRANSACTION })) as FakeBroker
      f.set(how)
      if (how === 'throw') expect(() => first.endTxn()).toThrow('not connected')
      else await expect(first.endTxn()).rejects.toThrow('NOT_COORDINATOR')
      f.set('ok')
      const second = (await find({ groupId: 'tx', coordinatorType: TRANSACTION })) as FakeBroker
      expect(second.id).not.toBe(first.id)
      // a late failure of the old broker does not drop the new one
      f.set('reject')
      await expect(first.endTxn()).rejects.toThrow()
      f.set('ok')
      expect(((await find({ groupId: 'tx', coordinatorType: TRANSACTION })) as FakeBroker).id).toBe(second.id)
      expect(f.calls).toHaveLength(2)
    },
  )

  it('keeps the broker when it answers CONCURRENT_TRANSACTIONS (busy with the last commit, still the coordinator)', async () => {
    let busy = true
    const calls: string[] = []
    const find = keepTransactionCoordinators((args) => {
      calls.push(args.groupId)
      const busyError = Object.assign(new Error('busy'), { type: 'CONCURRENT_TRANSACTIONS' })
      return Promise.resolve({ addPartitionsToTxn: () => (busy ? Promise.reject(busyError) : Promise.resolve()) })
    })
    const b = (await find({ groupId: 'tx', coordinatorType: TRANSACTION })) as {
      addPartitionsToTxn: () => Promise<void>
    }
    await expect(b.addPartitionsToTxn()).rejects.toThrow('busy')
    busy = false
    const again = (await find({ groupId: 'tx', coordinatorType: TRANSACTION })) as typeof b
    await again.addPartitionsToTxn()
    expect(calls).toHaveLength(1)
  })

  it('does not keep a failed lookup', async () => {
    const f = fakeLookup()
    const find = keepTransactionCoordinators(f.find)
    f.failLookups(true)
    await expect(find({ groupId: 'tx', coordinatorType: TRANSACTION })).rejects.toThrow('no coordinator')
    f.failLookups(false)
    await expect(find({ groupId: 'tx', coordinatorType: TRANSACTION })).resolves.toMatchObject({ id: 2 })
  })
})
