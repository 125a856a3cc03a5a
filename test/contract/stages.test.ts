/**
 * The stage contract (stageContract.ts) for every stage of the pipeline: the
 * primary (once per Kafka client library of its producer), the mover and
 * the applier, one after another in this file, so that they share the
 * private broker of case 4.
 */
import { afterAll } from 'vitest'
import { KAFKA_CLIENTS } from '../../lib/kafka/client/index.js'
import { applierDriver } from './applierDriver.js'
import { moverDriver } from './moverDriver.js'
import { primaryDriver } from './primaryDriver.js'
import { removePrivateServers, stageContract } from './stageContract.js'

// the primary's producer on each Kafka client library (kafka.client)
for (const client of KAFKA_CLIENTS) stageContract(primaryDriver(client))
stageContract(moverDriver)
stageContract(applierDriver)

afterAll(async () => {
  await removePrivateServers()
}, 60_000)
