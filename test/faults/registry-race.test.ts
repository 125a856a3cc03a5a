/**
 * Regression: processes of a new session starting together (primary, mover,
 * applier) register the same new subject at once; the registry then
 * answered the loser's compatibility setting with a conflict ("A rule named
 * 'COMPATIBILITY' already exists") and the mover refused to start, taking
 * it for an unreachable registry. Found by the fault suite (a fresh private
 * registry). Every one of them must get the same schema id.
 */
import { afterAll, expect, it } from 'vitest'
import { createCodec } from '../../schemas/codec.js'
import { RECORD_SET_SCHEMA } from '../../schemas/recordSet.js'
import { uniqueName } from '../kit/names.js'
import { deleteSubject, stackInfo } from '../kit/servers.js'
import { registryAt } from '../../schemas/registryClient.js'

const subjects: string[] = []

afterAll(async () => {
  for (const s of subjects) await deleteSubject(s)
})

it('registers a new subject from many processes at once, all with the same id', async () => {
  for (let round = 0; round < 5; round++) {
    const subject = `${uniqueName('race')}-value`
    subjects.push(subject)
    const codecs = await Promise.all(
      Array.from({ length: 6 }, () =>
        createCodec({ registry: registryAt(stackInfo().registryUrl), subject, schema: RECORD_SET_SCHEMA }),
      ),
    )
    expect(new Set(codecs.map((c) => c.schemaId)).size).toBe(1)
  }
})
