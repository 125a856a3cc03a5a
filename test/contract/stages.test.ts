/**
 * The stage contract (stageContract.ts) for every stage of the pipeline: the
 * primary, the mover and the applier, each on each Kafka client library
 * (kafka.client), one after another in this file, so that they share the
 * private broker of case 4.
 */
import { afterAll } from 'vitest'
import { KAFKA_CLIENTS } from '../../lib/kafka/client/index.js'
import { applierDriver } from './applierDriver.js'
import { moverDriver } from './moverDriver.js'
import { primaryDriver } from './primaryDriver.js'
import { removePrivateServers, stageContract } from './stageContract.js'

// each stage on each Kafka client library (kafka.client: the primary's producer, the mover's and applier's readers)
for (const client of KAFKA_CLIENTS) stageContract(primaryDriver(client))
for (const client of KAFKA_CLIENTS) stageContract(moverDriver(client))
for (const client of KAFKA_CLIENTS) stageContract(applierDriver(client))

afterAll(async () => {
  await removePrivateServers()
}, 60_000)
