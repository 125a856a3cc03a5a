/**
 * The stage contract (stageContract.ts) for every stage of the pipeline: the
 * primary, the mover and the applier, one after another in this file, so
 * that they share the private broker of case 4.
 */
import { afterAll } from 'vitest'
import { applierDriver } from './applierDriver.js'
import { moverDriver } from './moverDriver.js'
import { primaryDriver } from './primaryDriver.js'
import { removePrivateServers, stageContract } from './stageContract.js'

stageContract(primaryDriver)
stageContract(moverDriver)
stageContract(applierDriver)

afterAll(async () => {
  await removePrivateServers()
}, 60_000)
