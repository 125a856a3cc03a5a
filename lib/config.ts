/**
 * The one place that reads settings. Every setting has a default, a unit and
 * a description here; unknown keys are rejected; all violations are reported
 * at once, each naming its setting; the result is frozen.
 *
 * Precedence, highest first: explicit overrides (command-line flags), the
 * environment, the config file (JSON), the defaults below. Environment names
 * follow the ecosystem where one exists (KAFKA_BROKERS, SCHEMA_REGISTRY_URL,
 * DATABASE_URL); the rest are XRC_*. See ENV_VARS for the full table.
 */
import { readFileSync } from 'node:fs'
import { z } from 'zod'
import { ConfigError, type ConfigIssue } from './errors.js'
import { FAULT_POINTS, FAULT_SPEC_PATTERN } from './faultPoints.js'
import { JOURNAL_SINGLE_BLOCK_FRAMING_BYTES } from '../schemas/wireSizes.js'
import { hideSecret } from './secrets.js'
import { KAFKA_CLIENTS, type KafkaClientName } from './kafka/client/types.js'
import {
  checkPem,
  KafkaSaslSchema,
  KafkaTlsSchema,
  resolveKafkaSecurity,
  type KafkaSasl,
  type KafkaTls,
} from './kafkaSecuritySettings.js'

export { type KafkaSasl, type KafkaTls, saslSettings } from './kafkaSecuritySettings.js'

const port = z.number().int().min(1).max(65535)
const ms = z.number().int().positive()
const name = z
  .string()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/,
    'letters, digits, ".", "_" or "-", at most 63, starting with a letter or digit',
  )

const VolumeSchema = z.strictObject({
  name,
  blocks: z
    .number()
    .int()
    .positive()
    .max(2 ** 31 - 1),
})

const ControllerSchema = z.strictObject({
  // the controller id is also its partition of the updates topic
  id: z.number().int().min(0).max(1023),
  volumes: z.array(VolumeSchema).min(1),
})

/**
 * Every setting, with its default and a description (unit last) that the
 * README's configuration table is generated from (lib/readmeTables.ts;
 * `npm run docs` rewrites it, and a test fails when they disagree).
 */
export const ConfigSchema = z.strictObject({
  kafka: z
    .strictObject({
      brokers: z
        .array(z.string().regex(/^[^\s:]+:\d+$/, 'host:port'))
        .min(1)
        .optional()
        .describe(
          "Kafka bootstrap servers, host:port; default: the local stack's broker, 127.0.0.1 at stack.kafkaPort",
        ),
      clientId: z.string().default('xrc').describe("Prefix of the Kafka client ids of xrc's processes"),
      client: z
        .enum(KAFKA_CLIENTS)
        .default('platformatic')
        .describe(
          "Kafka client library of the process (producers, readers, admin calls; the mover's journal " +
            'transactions stay on kafkajs): platformatic (@platformatic/kafka) or kafkajs; see the README, ' +
            '"Choosing the Kafka client"',
        ),
      tls: KafkaTlsSchema,
      sasl: KafkaSaslSchema,
    })
    .prefault({}),
  topics: z
    .strictObject({
      replicationFactor: z
        .number()
        .int()
        .min(1)
        .max(16)
        .optional()
        .describe(
          "Replication factor of the session's topics when xrc creates them; default: 3 on a cluster of at least " +
            'three brokers, else 1',
        ),
      minInsyncReplicas: z
        .number()
        .int()
        .min(1)
        .max(16)
        .optional()
        .describe(
          "min.insync.replicas of the session's topics when xrc creates them (acks=all waits for this many); " +
            'default: 2 where the replication factor is at least 3, else 1',
        ),
    })
    .prefault({}),
  schemaRegistry: z
    .strictObject({
      url: z
        .url()
        .optional()
        .describe(
          "Confluent-compatible schema registry API; default: the local stack's Apicurio at " +
            'stack.registryPort, path /apis/ccompat/v7',
        ),
      username: z
        .string()
        .min(1)
        .optional()
        .describe('User name for HTTP basic authentication to the schema registry; needs schemaRegistry.password'),
      password: z
        .string()
        .min(1)
        .optional()
        .describe(
          'Password for basic authentication to the schema registry; give it in XRC_SCHEMA_REGISTRY_PASSWORD ' +
            'rather than in a shared file; never logged, printed or kept in an error; only over https (or loopback)',
        ),
      caFile: z
        .string()
        .min(1)
        .optional()
        .describe(
          "PEM file of the certificate authorities an https registry's certificate is checked against; default: " +
            "Node's bundled public CAs",
        ),
      timeoutMs: ms
        .default(10_000)
        .describe('Longest one request to the schema registry may take before it counts as failed, ms'),
    })
    .prefault({}),
  database: z
    .strictObject({
      url: z
        .string()
        .regex(/^postgres(ql)?:\/\//, 'a postgres:// connection string')
        .default('postgres://postgres@127.0.0.1:5432/postgres')
        .describe(
          'PostgreSQL connection string of the secondary block store, for the secondary site only (the applier, ' +
            'xrc rollback, xrc resync, status); the primary never connects to it (a password in it is never logged)',
        ),
    })
    .prefault({}),
  log: z
    .strictObject({
      level: z
        .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
        .default('info')
        .describe('Log level; logs are JSON lines (pino) on stderr'),
    })
    .prefault({}),
  stack: z
    .strictObject({
      dir: z
        .string()
        .default('.stack')
        .describe(
          "Folder of the local stack's jars, data, logs and PID files, relative to the repository (git-ignored)",
        ),
      kafkaPort: port.default(9092).describe('Port of the local Kafka broker'),
      controllerPort: port.default(9093).describe("Port of the local broker's KRaft controller listener"),
      securePort: port
        .default(9094)
        .describe(
          'Port of the secured local broker (`xrc stack up --secure`): SASL_SSL only, SCRAM-SHA-512, ACLs; ' +
            'its CA, users and their passwords are written under stack.dir/tls',
        ),
      secureControllerPort: port.default(9095).describe("Port of the secured local broker's KRaft controller listener"),
      brokers: z
        .number()
        .int()
        .min(1)
        .max(5)
        .default(1)
        .describe(
          'Nodes of the local Kafka (`xrc stack up --brokers N`): 1 is the broker at stack.kafkaPort; more is a ' +
            'KRaft cluster of combined broker+controller nodes at stack.clusterPort and stack.clusterControllerPort',
        ),
      clusterPort: port
        .default(19092)
        .describe('Client port of the first node of the local cluster (stack.brokers > 1); node n takes this + n - 1'),
      clusterControllerPort: port
        .default(19192)
        .describe("KRaft controller port of the local cluster's first node; node n takes this + n - 1"),
      clusterHeapMb: z
        .number()
        .int()
        .min(256)
        .default(512)
        .describe('Java heap of each node of the local cluster (stack.brokers > 1), MiB'),
      registryPort: port
        .default(8081)
        .describe('Port of the local schema registry (its management interface takes this port + 1000)'),
      registryDatabase: name
        .default('xrc_registry')
        .describe('PostgreSQL database in which the local schema registry keeps its schemas'),
      kafkaHeapMb: z.number().int().min(256).default(1024).describe('Java heap of the local broker, MiB'),
      registryHeapMb: z.number().int().min(128).default(512).describe('Java heap of the local schema registry, MiB'),
      startTimeoutMs: ms.default(120_000).describe('How long `xrc stack up` waits for each service to answer, ms'),
    })
    .prefault({}),
  session: z
    .strictObject({
      name: name
        .default('demo')
        .describe(
          'Session name: names its topics (xrc.NAME.updates, .journal, .dlq, .control, .applied), ' +
            'registry subjects, transactional id and default PostgreSQL schema',
        ),
      blockSize: z
        .number()
        .int()
        .min(512)
        .max(1 << 20)
        .refine((n) => (n & (n - 1)) === 0, 'a power of two')
        .default(4096)
        .describe('Bytes per block, a power of two from 512 to 1048576; writes are whole blocks'),
      controllers: z
        .array(ControllerSchema)
        .min(1)
        .default([
          {
            id: 0,
            volumes: [
              { name: 'vol0', blocks: 1024 },
              { name: 'vol1', blocks: 1024 },
            ],
          },
          {
            id: 1,
            volumes: [
              { name: 'vol2', blocks: 1024 },
              { name: 'vol3', blocks: 1024 },
            ],
          },
          {
            id: 2,
            volumes: [
              { name: 'vol4', blocks: 1024 },
              { name: 'vol5', blocks: 1024 },
            ],
          },
          {
            id: 3,
            volumes: [
              { name: 'vol6', blocks: 1024 },
              { name: 'vol7', blocks: 1024 },
            ],
          },
        ])
        .describe(
          'Controllers and their volumes, [{"id": 0, "volumes": [{"name": "vol0", "blocks": 1024}]}]:' +
            ' id 0..1023 is the partition of the updates topic; volume names unique in the session; ' +
            'sizes in blocks. Default: 4 controllers of 2 volumes of 1024 blocks (vol0..vol7)',
        ),
      segmentBlocks: z
        .number()
        .int()
        .min(1)
        .max(1 << 20)
        .default(256)
        .describe(
          'Blocks per segment of the per-segment codes (checksums) that verify and failback compare; both sites ' +
            'use this one setting. 256 blocks of 4 KiB = 1 MiB: a code per MiB is 32 bytes per MiB held, one ' +
            'hash over a contiguous read on the primary, and a failback copies at most 1 MiB per differing segment',
        ),
      dataDir: z
        .string()
        .default('.xrc')
        .describe('Primary site folder (volume files, sidefiles, clock), relative to the working directory'),
    })
    .prefault({}),
  producer: z
    .strictObject({
      heartbeatMs: ms
        .default(50)
        .describe('Heartbeat interval of an idle controller, so the consistency time keeps moving, ms'),
      lingerMs: z
        .number()
        .int()
        .min(0)
        .default(5)
        .describe('Longest a write waits in the sidefile before its record set is sent, ms'),
      maxUpdatesPerRecordSet: z.number().int().positive().default(256).describe('Most updates in one record set'),
      sidefileMaxBytes: z
        .number()
        .int()
        .positive()
        .default(256 * 1024 * 1024)
        .describe('Sidefile bound per controller, bytes of unsent updates'),
      sidefileWaitMs: z
        .number()
        .int()
        .min(0)
        .default(1000)
        .describe(
          'Longest a host write waits for sidefile space, ms: the bound on what a full sidefile adds ' +
            'to a write. Then the session suspends and the write goes on marked for resync ' +
            '(resync.suspendOnSidefileFull), or it is refused (XRC_SIDEFILE_FULL)',
        ),
      apiPort: z
        .number()
        .int()
        .min(0)
        .max(65535)
        .default(7070)
        .describe(
          "Port of the primary's HTTP API on producer.apiHost (block writes and reads, /v1/status, /metrics," +
            ' /health); 0 = any free port',
        ),
      apiHost: z
        .string()
        .min(1)
        .default('127.0.0.1')
        .describe(
          "Address the primary's HTTP API listens on; an address other than loopback (127.0.0.0/8, ::1, " +
            'localhost) needs producer.apiToken, or the primary refuses to start',
        ),
      apiToken: z
        .string()
        .min(16, 'at least 16 characters (e.g. `openssl rand -hex 32`)')
        .regex(/^[\x21-\x7e]+$/, 'printable ASCII without spaces (it travels in an HTTP header)')
        .optional()
        .describe(
          "Bearer token the primary's HTTP API asks of every request but /health and /metrics " +
            '(Authorization: Bearer <token>), and which the CLI sends; give it in XRC_PRIMARY_API_TOKEN rather ' +
            'than in a shared file; never logged, printed or kept in an error; unset = no token asked',
        ),
      apiAllowedHosts: z
        .array(z.string().regex(/^[A-Za-z0-9.:[\]-]+$/, 'a host name or address'))
        .default([])
        .describe(
          "Names besides localhost, 127.0.0.1, [::1] and producer.apiHost that the primary's HTTP API accepts " +
            'in the Host header (the names clients reach it by); any other Host is refused with 403, against ' +
            'DNS rebinding',
        ),
      apiMaxReadBytes: z
        .number()
        .int()
        .min(64 * 1024)
        .default(16 * 1024 * 1024)
        .describe("Most block bytes one read of the primary's HTTP API returns (count x session.blockSize), bytes"),
    })
    .prefault({}),
  nbd: z
    .strictObject({
      host: z
        .string()
        .min(1)
        .default('127.0.0.1')
        .describe(
          "Address the primary's NBD server listens on for TCP (every volume is an export named after" +
            ' it); NBD has no authentication here: keep it on a trusted network',
        ),
      port: z
        .number()
        .int()
        .min(-1)
        .max(65535)
        .default(0)
        .describe(
          "TCP port of the primary's NBD server (10809 is NBD's own); 0 = any free port, announced on" +
            ' the ready line; -1 = no TCP',
        ),
      socket: z
        .string()
        .default('')
        .describe(
          'Unix socket of the NBD server; empty = <dataDir>/<session>/primary/nbd.sock ' +
            '(nbd-<ids>.sock for a process running some controllers); "-" = none',
        ),
      maxConnections: z
        .number()
        .int()
        .min(1)
        .default(128)
        .describe(
          'Open NBD connections (TCP and Unix together) past which a new one is closed at once, with a log line',
        ),
      handshakeTimeoutMs: ms
        .default(10_000)
        .describe('Longest an NBD client may take from connecting to choosing an export, ms'),
    })
    .prefault({}),
  mover: z
    .strictObject({
      groupIntervalMs: ms
        .default(100)
        .describe('Longest spacing of consistency groups (a group is cut sooner once a write waits), ms'),
      groupMinIntervalMs: z
        .number()
        .int()
        .nonnegative()
        .default(20)
        .describe(
          'Shortest spacing of consistency groups: a waiting write is cut this long after the last cut ' +
            '(each group costs CPU in every stage), ms',
        ),
      groupMaxBytes: z
        .number()
        .int()
        .positive()
        .default(8 * 1024 * 1024)
        .describe('A group is cut early when this many update bytes wait, bytes'),
      journalRecordMaxBytes: z
        .number()
        .int()
        .min(64 * 1024)
        .default(900 * 1024)
        .describe('Largest journal record (a marker); a group whose marker would not fit is cut earlier, bytes'),
      maxRecordSetBytes: z
        .number()
        .int()
        .positive()
        .default(4 * 1024 * 1024)
        .describe('Largest record set accepted from the updates topic (also bounds one write), bytes'),
      transactionTimeoutMs: ms.default(60_000).describe('Kafka transaction timeout of the journal writer, ms'),
      maxBufferedBytes: z
        .number()
        .int()
        .positive()
        .default(32 * 1024 * 1024)
        .describe(
          'Update bytes buffered per updates partition before the mover pauses it (resumed when ' +
            'groups drain it), bytes',
        ),
      maxClockSkewMs: z
        .number()
        .int()
        .min(0)
        .default(1000)
        .describe(
          "Largest skew between the controllers' clocks the mover accepts, as it estimates them from when it " +
            'reads their record sets; above it (for clockSkewSustainMs) the mover halts with XRC_CLOCK_SKEW; ' +
            '0 = not checked, ms',
        ),
      clockSkewSustainMs: ms
        .default(10_000)
        .describe(
          'How long the estimated skew must stay above maxClockSkewMs before the mover halts (a passing delay, ' +
            'such as a partition leader moving, is not skew), ms',
        ),
      metricsPort: z
        .number()
        .int()
        .min(0)
        .max(65535)
        .default(7071)
        .describe(
          "Port of the mover's /metrics and /health on 127.0.0.1, fixed so Prometheus can scrape it " +
            '(the primary serves them on producer.apiPort, 7070; the applier on 7072); 0 = any free port',
        ),
    })
    .prefault({}),
  applier: z
    .strictObject({
      schema: z
        .string()
        .regex(/^[a-z_][a-z0-9_]{0,62}$/, 'a lower-case PostgreSQL identifier')
        .optional()
        .describe(
          'PostgreSQL schema of the secondary block store; default xrc_ + session.name (lower case, ' +
            'other characters as _)',
        ),
      metricsPort: z
        .number()
        .int()
        .min(0)
        .max(65535)
        .default(7072)
        .describe(
          "Port of the applier's /metrics and /health on 127.0.0.1, fixed so Prometheus can scrape it; a " +
            'second applier on the same host (another applier.schema) needs its own; 0 = any free port',
        ),
      feedbackMs: ms
        .default(1000)
        .describe(
          "Least time between two records of the applier's last applied group on the session's applied topic " +
            '(xrc.NAME.applied), which the primary follows to discard its older change generation; the first goes ' +
            'at once, ms',
        ),
      readAheadBytes: z
        .number()
        .int()
        .min(64 * 1024)
        .default(2 * 1024 * 1024)
        .describe(
          'Bytes of the updates topic the applier reads ahead per partition beyond what the group it applies ' +
            'next needs (markers prefetched while a group applies); bounds its memory, bytes',
        ),
      maxBatchBytes: z
        .number()
        .int()
        .min(0)
        .default(8 * 1024 * 1024)
        .describe(
          'Block data the applier applies at most in one PostgreSQL transaction: consecutive groups ready at once ' +
            'are applied together (one history row each), the first always whole; 0 = one group per transaction, bytes',
        ),
      maxBatchGroups: z
        .number()
        .int()
        .min(1)
        .default(64)
        .describe('Groups the applier applies at most in one PostgreSQL transaction'),
      statementTimeoutMs: z
        .number()
        .int()
        .min(0)
        .default(60_000)
        .describe(
          "PostgreSQL statement_timeout of the applier's connections: a statement running longer is cancelled " +
            'and its transaction retried (a batch is at most applier.maxBatchBytes); 0 = none, ms',
        ),
      lockTimeoutMs: z
        .number()
        .int()
        .min(0)
        .default(30_000)
        .describe(
          "PostgreSQL lock_timeout of the applier's connections: a wait for a lock (the control row another " +
            'applier of the same schema holds) ends with an error and is retried, shown in /health; 0 = none, ms',
        ),
      idleInTransactionTimeoutMs: z
        .number()
        .int()
        .min(0)
        .default(60_000)
        .describe(
          "PostgreSQL idle_in_transaction_session_timeout of the applier's connections: the server ends the " +
            'session of an applier paused inside a transaction (SIGSTOP, a hung host), so its locks do not hold ' +
            'another applier forever; 0 = none, ms',
        ),
      stallAfterMs: ms
        .default(30_000)
        .describe(
          'Watchdog: /health answers 503 (unavailable) when the journal has groups not yet applied and none was ' +
            'applied for this long (a stalled or paused applier, a lock held elsewhere); meanwhile the RPO gauge ' +
            'grows with the wall clock, ms',
        ),
      codeRecomputeBytesPerSecond: z
        .number()
        .int()
        .min(0)
        .default(16 * 1024 * 1024)
        .describe(
          'Rate at which the applier recomputes the codes of segments that groups wrote (their valid flag ' +
            'cleared), in segment bytes read; a code is set valid only if its segment was not written meanwhile; ' +
            '0 = never recompute, bytes/s',
        ),
      codeRecomputeQuietMs: z
        .number()
        .int()
        .min(0)
        .default(2000)
        .describe(
          'The recomputer hashes a segment only once no group wrote it for this long: a segment still being ' +
            'written would have its code invalidated again before it was set (under random writes over a small ' +
            'volume, more than half of those it hashed were), ms',
        ),
      delayMs: z
        .number()
        .int()
        .min(0)
        .default(0)
        .describe(
          'A delayed secondary: the applier applies a group only once its consistency time is this old by the ' +
            'wall clock (a copy that a logical corruption reaches only after the delay); the backlog waits in ' +
            'Kafka, so the journal and updates retention must cover it; 0 = apply at once, ms',
        ),
      snapshots: z
        .strictObject({
          maxCount: z
            .number()
            .int()
            .positive()
            .optional()
            .describe(
              'Snapshot retention: the applier keeps at most this many active snapshots of its secondary, ' +
                'deleting the oldest (by group time) a few seconds after a commit; unset = no count limit',
            ),
          maxAgeMs: ms
            .optional()
            .describe(
              'Snapshot retention: the applier deletes active snapshots whose group is older than this by the ' +
                'session clock; pending snapshots are never retired; unset = no age limit, ms',
            ),
        })
        .prefault({}),
    })
    .prefault({}),
  resync: z
    .strictObject({
      suspendAfterUnreachableMs: z
        .number()
        .int()
        .min(0)
        .default(10_000)
        .describe(
          'The primary suspends the session when a send to Kafka has failed or hung this long: writes' +
            ' go on, marked for resync; 0 = never, ms',
        ),
      suspendOnSidefileFull: z
        .boolean()
        .default(true)
        .describe(
          'Suspend when a write found the sidefile full for producer.sidefileWaitMs (the write goes ' +
            'on, marked); false = refuse it with XRC_SIDEFILE_FULL',
        ),
      autoResume: z
        .boolean()
        .default(true)
        .describe(
          'Resume by itself (and resync) once Kafka answers again after a suspension it did not get from an operator',
        ),
      probeMs: ms
        .default(1000)
        .describe('How often a suspended primary asks whether Kafka answers again (autoResume), ms'),
      groupBlocks: z
        .number()
        .int()
        .min(1)
        .max(4096)
        .default(64)
        .describe('Most blocks one resync group reads (a run of marked blocks of one volume)'),
      maxGroupsInFlight: z
        .number()
        .int()
        .min(1)
        .max(64)
        .default(4)
        .describe('Resync groups read at once per controller'),
      maxBytesPerSecond: z
        .number()
        .int()
        .min(0)
        .default(0)
        .describe('Bound on the block bytes a resync reads per controller and second, to spare host I/O; 0 = none'),
    })
    .prefault({}),
  faults: z
    .strictObject({
      point: z
        .string()
        .regex(FAULT_SPEC_PATTERN, `<point>:<kill|stop>[:<n>] with a point of ${FAULT_POINTS.join(', ')}`)
        .optional()
        .describe(
          'For the fault suite only: <point>:<kill|stop>[:<n>] makes the process SIGKILL or SIGSTOP ' +
            'itself the n-th time it reaches the point (see lib/faultPoints.ts); unset, nothing happens',
        ),
    })
    .prefault({}),
})

type Parsed = z.infer<typeof ConfigSchema>

/**
 * Where and how to reach the schema registry: what every registry client is
 * made from (schemas/registryClient.ts). `password` is non-enumerable: pass
 * this object on, never a spread copy of it.
 */
export type RegistryConnection = Readonly<{
  url: string
  username?: string
  password?: string
  caFile?: string
  timeoutMs?: number
}>

/**
 * Where and how to reach Kafka: what every Kafka client is made from
 * (lib/kafka createKafka). `sasl.password` is non-enumerable: pass this
 * object on, never a spread copy of it.
 */
export type KafkaConnection = Readonly<{
  brokers: readonly string[]
  /** TLS settings when TLS is on, else undefined. */
  tls?: KafkaTls | undefined
  /** SASL settings when a mechanism is set, else undefined. */
  sasl?: KafkaSasl | undefined
}>

/** The resolved, frozen configuration. */
export type Config = Readonly<
  Omit<Parsed, 'kafka' | 'schemaRegistry' | 'applier'> & {
    kafka: KafkaConnection & Readonly<{ clientId: string; client: KafkaClientName }>
    schemaRegistry: RegistryConnection
    applier: Readonly<Parsed['applier'] & { schema: string }>
  }
>

/** Environment variables read, and the setting each one sets. */
export const ENV_VARS: Readonly<
  Record<string, { path: string; parse: 'string' | 'int' | 'list' | 'boolean'; doc: string }>
> = {
  KAFKA_BROKERS: { path: 'kafka.brokers', parse: 'list', doc: 'Kafka bootstrap servers, comma-separated host:port' },
  XRC_KAFKA_CLIENT: { path: 'kafka.client', parse: 'string', doc: 'Kafka client library: kafkajs or platformatic' },
  XRC_KAFKA_TLS: { path: 'kafka.tls.enabled', parse: 'boolean', doc: 'true: connect to Kafka over TLS' },
  XRC_KAFKA_TLS_CA_FILE: { path: 'kafka.tls.caFile', parse: 'string', doc: "PEM file of the brokers' CAs" },
  XRC_KAFKA_TLS_CERT_FILE: { path: 'kafka.tls.certFile', parse: 'string', doc: 'PEM client certificate (mutual TLS)' },
  XRC_KAFKA_TLS_KEY_FILE: {
    path: 'kafka.tls.keyFile',
    parse: 'string',
    doc: "PEM private key of the client's certificate",
  },
  XRC_KAFKA_TLS_SERVERNAME: {
    path: 'kafka.tls.servername',
    parse: 'string',
    doc: "name the brokers' certificates hold",
  },
  XRC_KAFKA_SASL_MECHANISM: {
    path: 'kafka.sasl.mechanism',
    parse: 'string',
    doc: 'SCRAM-SHA-512, SCRAM-SHA-256 or PLAIN',
  },
  XRC_KAFKA_SASL_USERNAME: { path: 'kafka.sasl.username', parse: 'string', doc: 'SASL user name' },
  XRC_KAFKA_SASL_PASSWORD: { path: 'kafka.sasl.password', parse: 'string', doc: 'SASL password (never logged)' },
  SCHEMA_REGISTRY_URL: { path: 'schemaRegistry.url', parse: 'string', doc: 'Confluent-compatible schema registry URL' },
  XRC_SCHEMA_REGISTRY_USERNAME: {
    path: 'schemaRegistry.username',
    parse: 'string',
    doc: 'schema registry basic auth user',
  },
  XRC_SCHEMA_REGISTRY_PASSWORD: {
    path: 'schemaRegistry.password',
    parse: 'string',
    doc: 'schema registry basic auth password (never logged)',
  },
  XRC_SCHEMA_REGISTRY_CA_FILE: {
    path: 'schemaRegistry.caFile',
    parse: 'string',
    doc: "PEM file of the registry's CAs",
  },
  XRC_SCHEMA_REGISTRY_TIMEOUT_MS: {
    path: 'schemaRegistry.timeoutMs',
    parse: 'int',
    doc: 'schema registry request timeout, ms',
  },
  DATABASE_URL: { path: 'database.url', parse: 'string', doc: 'PostgreSQL connection string of the secondary' },
  LOG_LEVEL: { path: 'log.level', parse: 'string', doc: 'pino log level' },
  XRC_STACK_DIR: { path: 'stack.dir', parse: 'string', doc: 'local stack folder' },
  XRC_KAFKA_PORT: { path: 'stack.kafkaPort', parse: 'int', doc: 'local broker port' },
  XRC_KAFKA_CONTROLLER_PORT: { path: 'stack.controllerPort', parse: 'int', doc: 'local KRaft controller port' },
  XRC_REGISTRY_PORT: { path: 'stack.registryPort', parse: 'int', doc: 'local schema registry port' },
  XRC_STACK_BROKERS: { path: 'stack.brokers', parse: 'int', doc: 'nodes of the local Kafka (1, or a cluster of 3)' },
  XRC_TOPIC_REPLICATION_FACTOR: {
    path: 'topics.replicationFactor',
    parse: 'int',
    doc: "replication factor of the session's topics",
  },
  XRC_TOPIC_MIN_INSYNC_REPLICAS: {
    path: 'topics.minInsyncReplicas',
    parse: 'int',
    doc: "min.insync.replicas of the session's topics",
  },
  XRC_SESSION: { path: 'session.name', parse: 'string', doc: 'session name' },
  XRC_DATA_DIR: { path: 'session.dataDir', parse: 'string', doc: 'primary site data folder' },
  XRC_API_PORT: { path: 'producer.apiPort', parse: 'int', doc: "primary's HTTP API port" },
  XRC_API_HOST: { path: 'producer.apiHost', parse: 'string', doc: "address the primary's HTTP API listens on" },
  XRC_PRIMARY_API_TOKEN: {
    path: 'producer.apiToken',
    parse: 'string',
    doc: "bearer token of the primary's HTTP API (never logged)",
  },
  XRC_NBD_PORT: { path: 'nbd.port', parse: 'int', doc: "primary's NBD TCP port" },
  XRC_MOVER_METRICS_PORT: { path: 'mover.metricsPort', parse: 'int', doc: "mover's metrics port" },
  XRC_APPLIER_METRICS_PORT: { path: 'applier.metricsPort', parse: 'int', doc: "applier's metrics port" },
  XRC_APPLIER_SCHEMA: { path: 'applier.schema', parse: 'string', doc: 'PostgreSQL schema of the secondary' },
  XRC_APPLIER_DELAY_MS: { path: 'applier.delayMs', parse: 'int', doc: "applier's delay (a delayed secondary), ms" },
  XRC_FAULT_POINT: { path: 'faults.point', parse: 'string', doc: 'fault suite only: a fault point to fire' },
}

export interface LoadOptions {
  /** Path of a JSON config file. */
  file?: string
  /** Environment to read; the composition root passes process.env. */
  env?: Readonly<Record<string, string | undefined>>
  /** Highest-precedence values, as a partial config object. */
  overrides?: Record<string, unknown>
}

/** Loads, validates and freezes the configuration. Throws ConfigError listing every violation. */
export function loadConfig(options: LoadOptions = {}): Config {
  const issues: ConfigIssue[] = []
  let fromFile: Record<string, unknown> = {}
  if (options.file !== undefined) {
    try {
      const parsed: unknown = JSON.parse(readFileSync(options.file, 'utf8'))
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
        throw new Error('top level must be a JSON object')
      fromFile = parsed as Record<string, unknown>
    } catch (err) {
      // V8 quotes the text around a JSON syntax error, which may hold a password: the token is enough
      const message = (err instanceof Error ? err.message : String(err)).replace(
        /, (\.\.\.)?".*"(\.\.\.)? is not valid JSON$/s,
        ' (not valid JSON)',
      )
      issues.push({ setting: `config file ${options.file}`, message })
    }
  }
  const fromEnv: Record<string, unknown> = {}
  for (const [key, spec] of Object.entries(ENV_VARS)) {
    const raw = options.env?.[key]
    if (raw === undefined || raw === '') continue
    let value: unknown = raw
    if (spec.parse === 'int') {
      value = Number(raw)
      if (!Number.isInteger(value)) {
        issues.push({ setting: `${key} (${spec.path})`, message: `expected an integer, got "${raw}"` })
        continue
      }
    } else if (spec.parse === 'boolean') {
      value = BOOLEANS[raw.trim().toLowerCase()]
      if (value === undefined) {
        issues.push({ setting: `${key} (${spec.path})`, message: `expected true or false, got "${raw}"` })
        continue
      }
    } else if (spec.parse === 'list') {
      value = raw
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== '')
    }
    setPath(fromEnv, spec.path, value)
  }
  const merged = deepMerge(deepMerge(fromFile, fromEnv), options.overrides ?? {})
  const result = ConfigSchema.safeParse(merged)
  if (!result.success) {
    for (const issue of result.error.issues) {
      const path = issue.path.join('.')
      const keys =
        issue.code === 'unrecognized_keys' ? issue.keys.map((k) => (path ? `${path}.${k}` : k)) : [path || '(root)']
      for (const setting of keys)
        issues.push({ setting, message: issue.code === 'unrecognized_keys' ? 'unknown setting' : issue.message })
    }
  }
  if (issues.length > 0 || !result.success) throw new ConfigError(issues)
  const c = result.data
  const ids = new Set<number>()
  const volumes = new Set<string>()
  for (const ctl of c.session.controllers) {
    if (ids.has(ctl.id))
      issues.push({ setting: 'session.controllers', message: `controller id ${ctl.id} appears twice` })
    ids.add(ctl.id)
    for (const v of ctl.volumes) {
      if (volumes.has(v.name))
        issues.push({ setting: 'session.controllers', message: `volume "${v.name}" appears twice` })
      volumes.add(v.name)
    }
  }
  // A group is split into journal records between blocks, never inside one: one block and its framing must fit.
  if (c.session.blockSize + JOURNAL_SINGLE_BLOCK_FRAMING_BYTES > c.mover.journalRecordMaxBytes) {
    issues.push({
      setting: 'mover.journalRecordMaxBytes',
      message:
        `must hold one block of session.blockSize (${c.session.blockSize}) plus ` +
        `${JOURNAL_SINGLE_BLOCK_FRAMING_BYTES} bytes of framing`,
    })
  }
  const { replicationFactor, minInsyncReplicas } = c.topics
  if (replicationFactor !== undefined && minInsyncReplicas !== undefined && minInsyncReplicas > replicationFactor) {
    issues.push({
      setting: 'topics.minInsyncReplicas',
      message: `must not exceed topics.replicationFactor (${replicationFactor}): no write could be acknowledged`,
    })
  }
  const schemaRegistry = resolveRegistry(c.schemaRegistry, c.stack.registryPort, issues)
  const security = resolveKafkaSecurity(c.kafka, issues)
  if (c.mover.groupMinIntervalMs > c.mover.groupIntervalMs) {
    issues.push({
      setting: 'mover.groupMinIntervalMs',
      message: `must not exceed mover.groupIntervalMs (${c.mover.groupIntervalMs})`,
    })
  }
  if (issues.length > 0) throw new ConfigError(issues)
  const resolved = {
    ...c,
    kafka: {
      clientId: c.kafka.clientId,
      client: c.kafka.client,
      brokers: c.kafka.brokers ?? localBrokers(c.stack),
      tls: security.tls,
      sasl: security.sasl,
    },
    schemaRegistry,
    applier: { ...c.applier, schema: c.applier.schema ?? defaultSchemaName(c.session.name) },
    producer: hideSecret(withoutKey(c.producer, 'apiToken'), 'apiToken', c.producer.apiToken),
  }
  return deepFreeze(resolved)
}

/**
 * The registry's connection, its password non-enumerable; issues (each
 * naming its setting) for a user without a password or the reverse, a
 * password that would cross the network in clear, and a CA file that is not
 * a readable PEM certificate.
 */
function resolveRegistry(r: Parsed['schemaRegistry'], registryPort: number, issues: ConfigIssue[]): RegistryConnection {
  const url = (r.url ?? `http://127.0.0.1:${registryPort}/apis/ccompat/v7`).replace(/\/+$/, '')
  if (r.username !== undefined && r.password === undefined)
    issues.push({ setting: 'schemaRegistry.password', message: 'schemaRegistry.username needs a password' })
  if (r.password !== undefined && r.username === undefined)
    issues.push({ setting: 'schemaRegistry.username', message: 'schemaRegistry.password needs a user name' })
  const { protocol, hostname } = new URL(url)
  if (r.password !== undefined && protocol !== 'https:' && !isLoopbackHost(hostname))
    issues.push({
      setting: 'schemaRegistry.password',
      message: `basic authentication over ${protocol}// would send the password in clear: use an https:// URL`,
    })
  if (r.caFile !== undefined) {
    if (protocol !== 'https:')
      issues.push({ setting: 'schemaRegistry.caFile', message: `a CA file needs an https:// URL, not ${url}` })
    checkPem('schemaRegistry.caFile', r.caFile, 'certificate', issues)
  }
  const resolved = {
    url,
    ...(r.username !== undefined ? { username: r.username } : {}),
    ...(r.caFile !== undefined ? { caFile: r.caFile } : {}),
    timeoutMs: r.timeoutMs,
  }
  return hideSecret(resolved, 'password', r.password)
}

/** localhost or a loopback address (a URL's hostname: IPv6 in brackets). */
function isLoopbackHost(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(hostname)
}

/** The local stack's client addresses: its one broker, or every node of its cluster (stack.brokers > 1). */
export function localBrokers(stack: Parsed['stack']): string[] {
  if (stack.brokers === 1) return [`127.0.0.1:${stack.kafkaPort}`]
  return Array.from({ length: stack.brokers }, (_, i) => `127.0.0.1:${stack.clusterPort + i}`)
}

/** The secondary's PostgreSQL schema for a session name. */
export function defaultSchemaName(session: string): string {
  return `xrc_${session.toLowerCase().replace(/[^a-z0-9_]/g, '_')}`.slice(0, 63)
}

/** A connection string with its password replaced, for logs and errors. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url)
    if (u.password) u.password = '***'
    return u.toString()
  } catch {
    return '(unparseable url)'
  }
}

/** A copy of `obj` without `key` (a secret re-added non-enumerable by hideSecret). */
function withoutKey<T extends object, K extends keyof T>(obj: T, key: K): T {
  const copy = { ...obj }
  delete copy[key]
  return copy
}

const BOOLEANS: Readonly<Record<string, boolean>> = {
  true: true,
  '1': true,
  yes: true,
  false: false,
  '0': false,
  no: false,
}

function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split('.')
  let node = target
  for (const part of parts.slice(0, -1)) {
    if (typeof node[part] !== 'object' || node[part] === null) node[part] = {}
    node = node[part] as Record<string, unknown>
  }
  node[parts[parts.length - 1] as string] = value
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function deepMerge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base }
  for (const [k, v] of Object.entries(over)) {
    if (v === undefined) continue
    out[k] = isPlainObject(v) && isPlainObject(out[k]) ? deepMerge(out[k] as Record<string, unknown>, v) : v
  }
  return out
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const v of Object.values(value)) deepFreeze(v)
    Object.freeze(value)
  }
  return value
}
