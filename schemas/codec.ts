/**
 * Avro codec in the Confluent wire format, with schemas in the registry.
 *
 * Wire layout of a value:
 *   byte 0      magic byte, always 0
 *   bytes 1-4   schema id, big-endian int32 (the registry's id)
 *   bytes 5-    Avro binary encoding of the value with that schema
 *
 * Any Confluent-wire-format consumer can read the topics. Values written
 * with another (compatible) version of the schema are read through an Avro
 * resolver. Every way a buffer can be wrong is an XRC_DECODE_FAILED error
 * naming what is wrong: never a silent skip.
 */
import avro from 'avsc'
import { COMPATIBILITY, SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry'
import { XrcError, errorMessage } from '../lib/errors.js'
import { createSchemaRegistry, registryFetch, type RegistryConnection } from './registryClient.js'
import { WIRE_HEADER_BYTES } from './wireSizes.js'

export const MAGIC_BYTE = 0
export { WIRE_HEADER_BYTES }

export interface AvroCodec<T> {
  /** Registry id of the schema this process writes with. */
  readonly schemaId: number
  readonly subject: string
  /** Encodes in the wire format. Throws XRC_INVALID_RECORD when `value` does not fit the schema. */
  encode(value: T): Buffer
  /** Decodes a wire-format buffer; may ask the registry for a writer schema it has not seen. */
  decode(buf: Buffer): Promise<T>
}

export interface CodecOptions {
  /** The registry and how to reach it (config.schemaRegistry, or registryAt(url)). */
  registry: RegistryConnection
  subject: string
  schema: object
  /** Compatibility level set on a new subject. */
  compatibility?: COMPATIBILITY
}

/**
 * Registers `schema` under `subject` (a no-op when that version exists) and
 * returns a codec for it.
 */
export async function createCodec<T>(options: CodecOptions): Promise<AvroCodec<T>> {
  const schemaId = await registerSchema(
    createSchemaRegistry(options.registry),
    options.registry,
    options.subject,
    options.schema,
    options.compatibility ?? COMPATIBILITY.BACKWARD,
  )
  const type = avro.Type.forSchema(options.schema as avro.Schema)
  const decoder = createDecoder<T>({ ...options, known: { id: schemaId, type } })
  return {
    schemaId,
    subject: options.subject,
    encode(value: T): Buffer {
      let out: Buffer
      try {
        out = encodeAfterHeader(type, value)
      } catch (err) {
        throw new XrcError('XRC_INVALID_RECORD', { reason: 'schemaMismatch', subject: options.subject, cause: err })
      }
      out[0] = MAGIC_BYTE
      out.writeInt32BE(schemaId, 1)
      return out
    },
    decode: decoder.decode,
  }
}

/** Where small values are written before they are copied out at their size (avsc's toBuffer does the same). */
const SCRATCH = Buffer.allocUnsafe(1024)

/**
 * `value`'s Avro encoding after WIRE_HEADER_BYTES left for the header, in a buffer of exactly that size, its bytes
 * copied once: a value that fits SCRATCH is written there and copied out; a larger one is measured first (avsc
 * goes on counting past the end of a buffer without writing) and written into its own buffer. (`toBuffer` and a
 * copy behind a header would copy every block of a record set twice.)
 */
function encodeAfterHeader(type: avro.Type, value: unknown): Buffer {
  const end = type.encode(value, SCRATCH, WIRE_HEADER_BYTES)
  if (end >= 0) {
    const out = Buffer.allocUnsafe(end)
    SCRATCH.copy(out, WIRE_HEADER_BYTES, WIRE_HEADER_BYTES, end)
    return out
  }
  const out = Buffer.allocUnsafe(SCRATCH.length - end) // encode returned the bytes missing, negated
  type.encode(value, out, WIRE_HEADER_BYTES)
  return out
}

/** Reads wire-format values of a subject as `schema`; registers nothing. */
export interface AvroDecoder<T> {
  readonly subject: string
  /** Decodes a wire-format buffer; asks the registry for each writer schema it has not seen. */
  decode(buf: Buffer): Promise<T>
}

/**
 * A decoder for a reader that never writes the subject (say, the primary
 * following what the applier publishes): it registers nothing, so it needs
 * no write access to the registry and never races the writer's registration.
 */
export function createDecoder<T>(
  options: Pick<CodecOptions, 'registry' | 'subject' | 'schema'> & {
    /** The writer schema this process registered itself (createCodec), read without a resolver. */
    known?: { id: number; type: avro.Type }
  },
): AvroDecoder<T> {
  const type = options.known?.type ?? avro.Type.forSchema(options.schema as avro.Schema)
  // resolvers for other writer ids, created once each
  const resolvers = new Map<number, ReturnType<avro.Type['createResolver']> | 'same'>(
    options.known ? [[options.known.id, 'same']] : [],
  )

  async function resolverFor(id: number): Promise<ReturnType<avro.Type['createResolver']> | 'same'> {
    const known = resolvers.get(id)
    if (known !== undefined) return known
    const writerSchema = await fetchSchemaById(options.registry, id)
    let writer: avro.Type
    try {
      writer = avro.Type.forSchema(writerSchema as avro.Schema)
    } catch (err) {
      throw new XrcError('XRC_DECODE_FAILED', { reason: 'notAvroSchema', schemaId: id, cause: err })
    }
    let resolver: ReturnType<avro.Type['createResolver']> | 'same'
    try {
      resolver = writer.equals(type) ? 'same' : type.createResolver(writer)
    } catch (err) {
      throw new XrcError('XRC_DECODE_FAILED', {
        reason: 'unreadableSchema',
        schemaId: id,
        subject: options.subject,
        cause: err,
      })
    }
    resolvers.set(id, resolver)
    return resolver
  }

  return {
    subject: options.subject,
    async decode(buf: Buffer): Promise<T> {
      const id = readWireHeader(buf)
      const resolver = await resolverFor(id)
      let decoded: { value: unknown; offset: number }
      try {
        decoded =
          resolver === 'same' ? type.decode(buf, WIRE_HEADER_BYTES) : type.decode(buf, WIRE_HEADER_BYTES, resolver)
      } catch (err) {
        const { subject } = options
        throw new XrcError('XRC_DECODE_FAILED', { reason: 'invalidAvroValue', subject, schemaId: id, cause: err })
      }
      if (decoded.offset !== buf.length) {
        const { subject } = options
        throw decoded.offset < 0
          ? new XrcError('XRC_DECODE_FAILED', { reason: 'truncatedAvroValue', subject, schemaId: id })
          : new XrcError('XRC_DECODE_FAILED', {
              reason: 'trailingBytes',
              subject,
              schemaId: id,
              trailing: buf.length - decoded.offset,
            })
      }
      return decoded.value as T
    },
  }
}

/** Checks the 5-byte wire header and returns the schema id. */
export function readWireHeader(buf: Buffer | null | undefined): number {
  if (!buf || buf.length < WIRE_HEADER_BYTES)
    throw new XrcError('XRC_DECODE_FAILED', {
      reason: 'shortHeader',
      bytes: buf ? buf.length : 0,
      headerBytes: WIRE_HEADER_BYTES,
    })
  if (buf[0] !== MAGIC_BYTE)
    throw new XrcError('XRC_DECODE_FAILED', { reason: 'magicByte', magic: buf[0] ?? '', expected: MAGIC_BYTE })
  return buf.readInt32BE(1)
}

async function registerSchema(
  registry: SchemaRegistry,
  conn: RegistryConnection,
  subject: string,
  schema: object,
  compatibility: COMPATIBILITY,
): Promise<number> {
  const confluent = { type: SchemaType.AVRO as const, schema: JSON.stringify(schema) }
  let level: COMPATIBILITY | undefined = compatibility
  for (let attempt = 1; ; attempt++) {
    try {
      return (await registry.register(confluent, { subject, ...(level ? { compatibility: level } : {}) })).id
    } catch (err) {
      const last = attempt >= 5
      // Processes of a new session starting together register its new subject at once: the registry
      // takes every schema but refuses all but one compatibility setting ("A rule named 'COMPATIBILITY'
      // already exists"). The subject is configured by then, so the next attempt only registers.
      if (!last && /already exists/i.test(errorMessage(err))) continue
      if ((err as Error).name !== 'ConfluentSchemaRegistryCompatibilityError' || last) {
        throw new XrcError('XRC_REGISTRY_UNREACHABLE', { reason: 'register', subject, url: conn.url, cause: err })
      }
      // The subject exists with another compatibility level (Apicurio answers NONE for subjects it did not
      // configure): keep the subject's own level. Read again at each attempt: another process may be setting
      // it at this moment (NONE read, then BACKWARD set by the other, was a start-up failure of the fault suite).
      const res = await registryFetch(conn, `/config/${encodeURIComponent(subject)}`)
      level = ((await res.json()) as { compatibilityLevel?: string }).compatibilityLevel?.toUpperCase() as
        COMPATIBILITY | undefined
    }
  }
}

async function fetchSchemaById(conn: RegistryConnection, id: number): Promise<unknown> {
  let res: Response
  try {
    res = await registryFetch(conn, `/schemas/ids/${id}`)
  } catch (err) {
    throw new XrcError('XRC_REGISTRY_UNREACHABLE', { reason: 'lookup', url: conn.url, schemaId: id, cause: err })
  }
  if (res.status === 404) throw new XrcError('XRC_DECODE_FAILED', { reason: 'unknownSchema', schemaId: id })
  if (!res.ok)
    throw new XrcError('XRC_REGISTRY_UNREACHABLE', { reason: 'lookupStatus', status: res.status, schemaId: id })
  const body = (await res.json()) as { schema: string; schemaType?: string }
  if (body.schemaType !== undefined && body.schemaType !== 'AVRO')
    throw new XrcError('XRC_DECODE_FAILED', { reason: 'schemaType', schemaId: id, schemaType: body.schemaType })
  return JSON.parse(body.schema)
}
