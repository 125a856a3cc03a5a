/**
 * The error catalogue's data: per code, whether it is retriable, the HTTP
 * status an API answers it with, its meaning (the README's error table) and
 * its message templates by reason. lib/errors.ts builds the errors from it
 * and says how templates are written; read it through lib/errors.ts.
 */

export interface CodeSpec {
  retriable: boolean
  /** HTTP status an API answers this code with. */
  status: number
  doc: string
  messages: Readonly<Record<string, Template>>
}

/** A message template: `{name}` placeholders; parts are joined without a separator. */
export type Template = string | readonly string[]

export const ERROR_CODES = {
  XRC_CONFIG_INVALID: {
    retriable: false,
    status: 500,
    doc: 'A setting is missing, malformed or unknown.',
    messages: {
      issues: 'invalid configuration:\n{issues}',
      faultPoint: 'faults.point "{value}" is not <point>:<kill|stop>[:<n>] with a point of {points}',
      topicPartitions: '{role} {topic} has {have} partitions; {partitionsFrom} needs {rule} {partitions}',
      topicReplication: [
        '{role} {topic} needs {replicationFactor} replicas but the cluster has {brokers} brokers; ',
        'lower topics.replicationFactor (XRC_TOPIC_REPLICATION_FACTOR) or add brokers',
      ],
      topicMaxMessageBytes: [
        '{role} {topic} has max.message.bytes {have}, ',
        'below the {need} a record of {setting} ({maxRecordBytes}) needs; ',
        "raise the topic's max.message.bytes or lower {setting}",
      ],
      controllerNotInSession: 'controller {controller} is not in session {session} (controllers: {controllers})',
      bitmapShrinks:
        'change bitmap {file} covers more blocks than volume "{volume}" has now ({blocks}); a volume cannot shrink',
      volumeFileShrinks: [
        'volume file {file} holds {bytes} bytes, more than the configured {blocks} blocks of {blockSize} bytes; ',
        'refusing to shrink it',
      ],
      sidefileVolumeGone: [
        'sidefile entry {where} writes volume "{volume}" blocks from {block}, ',
        'which the configuration of controller {controller} no longer holds',
      ],
      nbdNotSocket: '{path} exists and is not a socket',
      nbdSocketTaken: 'another process serves NBD on {path}',
      nbdSocketPathLong: 'the NBD socket path {path} is longer than the {maxBytes} bytes a Unix socket takes',
      nbdWriteTooSmall: [
        'one write holds {maxWriteBytes} bytes, fewer than two blocks of {blockSize}: ',
        'NBD cannot serve unaligned writes',
      ],
      schemaOfOtherSession: [
        'schema "{schema}" holds the secondary of session "{otherSession}", not "{session}": ',
        'choose another applier.schema',
      ],
      storeMismatch: 'the secondary in schema "{schema}" does not match the config: {mismatches}',
    },
  },
  XRC_USAGE: {
    retriable: false,
    status: 400,
    doc: 'A command was called with bad arguments.',
    messages: {
      badOption: '{option} takes {expected}, got "{value}"',
      nbdReadOnly: '{command} refused: NBD export "{export}" serves {image}, read-only',
      drillName: [
        'drill name "{name}" is not 1-64 letters, digits, ".", "_", "@" or "-" ',
        'starting with a letter or digit',
      ],
      drillNothingApplied: [
        'the secondary of session "{session}" has applied no group yet: there is no image to drill on ',
        '(start the applier and let it apply)',
      ],
      drillGroupNotApplied: [
        'a drill at group {atGroup}: the secondary of session "{session}" has applied up to group {groupSeq}; ',
        'a drill runs on an applied group (the newest, or one a snapshot pins)',
      ],
      drillGroupNotPinned: [
        'a drill at group {atGroup}: the secondary of session "{session}" keeps the image of the newest group ',
        '({groupSeq}) and of the groups its snapshots pin ({pinned}) only; ',
        'take a snapshot at a group to drill on it later (xrc snapshot create --at-group)',
      ],
      methodNotAllowed: '{method} is not allowed on {path}: use {use}',
      readTooLarge: [
        'a read of {count} blocks of {blockSize} bytes is {bytes} bytes, over producer.apiMaxReadBytes ',
        '({maxBytes} bytes): read at most {maxBlocks} blocks a request',
      ],
      unknownVolume: 'volume "{volume}" is not in session {session} (session.controllers: {volumes})',
      noSuchPartition: '--partition: {topic} has partitions {partitions}',
      unreadableFile: 'cannot read {file}: {cause}',
      noInput: 'no input: give a file, or pipe the blocks to stdin (xrc write vol0 0 < blocks.bin)',
      emptyInput: 'no input bytes: nothing to write',
      partialBlock: [
        '{bytes} bytes is not a whole number of {blockSize}-byte blocks (session.blockSize): ',
        'add --pad to zero-fill the last block',
      ],
      blocksOutsideVolume: 'blocks {first}..{last} do not fit volume "{volume}" ({blocks} blocks)',
      primaryUrlNeeded: [
        "producer.apiPort is 0 (any free port): pass the primary's address with --primary <url> ",
        '(it prints it when it starts)',
      ],
      replayTargetNotEmpty: [
        'schema {schema} already holds group {groupSeq}: replay rebuilds into an empty schema. ',
        'Name another with --into <schema>, or add --replace to drop {schema} first (stop its applier before)',
      ],
      demoSessionNotEmpty: [
        'session {session} already has data ({what}): the demo needs an empty session. ',
        'Name another with --session, or add --fresh to remove this one first',
      ],
      alreadyRunning: 'the {component} is already running',
      loadUnbounded: 'a closed-loop load needs durationMs or count',
      windowWithoutFeed: 'a windowed closed loop needs the commit feed',
      copyCeilingTooSmall: "the COPY ceiling needs {blocks} distinct blocks; the session's volumes hold {capacity}",
      stageOp: 'the {stage} stage does not take "{op}"',
      stageNotForked: 'bench/stageProcess is forked by the bench (npm run bench), not run by hand',
      stageFirstMessage: 'the first message to a stage must be "start", got "{kind}"',
      alreadyStarted: '{component} was already {state}: make a new one',
      offsetsNotIncreasing: [
        'controller {controller}: record set at offset {offset} fed after offset {lastOffset}; ',
        'offsets must increase',
      ],
      resumeOffsetAlone: '--offset needs --controller: an offset is one of its partition',
      journalWriterBusy: 'journal writer reopened while a write is in progress',
      releasedTwice: 'blocks {first}..{last} released twice',
      startedTwice: '{component} already {state}: start() is called once',
      notStarted: '{component} is {state}: start() it before {what}',
      notOpen: '{component} is {state}: open() it before {what}',
      negativeOffset: '{what} must be a non-negative integer, got {value}',
      blockOutsideVolume: 'block {block} is outside volume "{volume}" (0..{lastBlock})',
      targetOutsideWindow: [
        '{target} is outside the recovery window: {window}. ',
        "Snapshots (xrc snapshot list) and the topics' retention set the window (xrc replay --window)",
      ],
      replayTargetNotEmptySchema: [
        'schema "{schema}" already holds group {groupSeq} (time {groupTime}): ',
        'replay rebuilds into an empty schema',
      ],
      nothingToRollBack: 'the secondary of session "{session}" is {state}: there is nothing to roll back',
      snapshotName: [
        'snapshot name "{name}" is not 1-128 letters, digits, ".", "_", ":", "@" or "-" ',
        'starting with a letter or digit',
      ],
      snapshotNameReserved: 'snapshot name "{name}" is reserved: a diff takes it for the live image',
      snapshotOfDrill:
        'snapshot "{name}" is a drill\'s own: it is made by xrc drill start and removed by xrc drill stop',
      snapshotTwoTargets: [
        'a snapshot takes one target, a group or a time, not both ',
        '(got group {atGroup}, time {atTime})',
      ],
      snapshotBadTarget: 'a snapshot at a {what} takes a positive integer, got {value}',
      snapshotTargetPassed: [
        'a snapshot at {what} {value}: the secondary of session "{session}" has already applied group ',
        '{groupSeq} (time {groupTime}), so that target is not ahead; ',
        'create it without a target to pin group {groupSeq}',
      ],
      snapshotNothingApplied: [
        'the secondary of session "{session}" has applied no group yet, so there is nothing to pin: ',
        'give a target group or time to take the snapshot once it is applied',
      ],
      retentionLimit: 'a snapshot retention {limit} takes a positive integer, got {value}',
      noRetentionLimit: 'a snapshot retention needs a count or an age limit',
      copySameSchema: 'a snapshot is copied into another schema, not into its own ({schema})',
      copyTargetNotEmpty: [
        'schema "{schema}" already holds {what}: a snapshot is copied into an empty store ',
        '(drop the schema or name another)',
      ],
    },
  },
  XRC_STACK_INSTALL_FAILED: {
    retriable: false,
    status: 500,
    doc: 'Maven could not fetch the local stack jars.',
    messages: {
      noMaven: 'could not run mvn (is Maven installed?): {cause}',
      mavenFailed: 'mvn {args} failed (exit {exitCode}):\n{output}',
      noArchive: 'no Apicurio archive in {dir}',
      untarFailed: 'tar -xzf {archive} failed (exit {exitCode})',
    },
  },
  XRC_STACK_START_FAILED: {
    retriable: false,
    status: 500,
    doc: 'A local stack service did not start or answer in time.',
    messages: {
      noClusterId: 'kafka StorageTool random-uuid printed no cluster id',
      formatFailed: 'kafka storage format failed: {cause}',
      notStarted: '{service} did not start: {cause}\n--- last lines of {log} ---\n{tail}',
      noRegistryJar: 'no registry jar under {dir}; run `xrc stack up` to fetch it',
    },
  },
  XRC_STACK_PORT_BUSY: {
    retriable: false,
    status: 500,
    doc: 'A port the local stack needs is taken by a process it did not start.',
    messages: { default: 'port {port} ({setting}) is taken by a process the local stack did not start' },
  },
  XRC_POSTGRES_UNREACHABLE: {
    retriable: true,
    status: 503,
    doc: 'PostgreSQL did not answer at DATABASE_URL.',
    messages: {
      default: 'PostgreSQL does not answer at {url} ({settings}): {cause}',
      preflight: 'PostgreSQL does not answer ({cause}): {hint}',
    },
  },
  XRC_KAFKA_UNREACHABLE: {
    retriable: true,
    status: 503,
    doc: 'No Kafka broker answered at KAFKA_BROKERS.',
    messages: {
      default: 'no Kafka broker answers at {brokers} (kafka.brokers, KAFKA_BROKERS): {cause}',
      preflight: 'Kafka at {brokers} does not answer ({cause}): {hint}',
      perfToolFailed: 'ProducerPerformance failed: {output}',
      perfToolNoSummary: 'ProducerPerformance printed no summary line:\n{output}',
      deadLetter: 'could not dead-letter {topic} partition {partition} offset {offset}: {cause}',
      send: 'send to {topic} partition {partitions} failed: {cause}',
      sendMany: 'send to {topic} partitions {partitions} failed: {cause}',
      notWritten: 'sends to {topic} left partitions {partitions} unwritten, though Kafka answered: sent again',
      topicPartitions: 'topic {topic} has {have} of the {partitions} partitions the session needs',
      callDeadline: 'Kafka did not answer {what} within {timeoutMs} ms: the client is dropped and made anew',
      fetchStalled: 'a fetch of {topic} from broker {nodeId} had no answer for {waitedMs} ms: the reader is made anew',
    },
  },
  XRC_KAFKA_AUTH_FAILED: {
    retriable: false,
    status: 502,
    doc: 'Kafka refused the SASL credentials (kafka.sasl): no retry mends it, so the service stops and says so.',
    messages: {
      default: [
        'Kafka at {brokers} refused authentication: SASL {mechanism} as user "{username}" failed ({cause}); ',
        'check kafka.sasl.username (XRC_KAFKA_SASL_USERNAME) and the password (XRC_KAFKA_SASL_PASSWORD)',
      ],
      noCredentials: [
        'Kafka at {brokers} refused authentication ({cause}): no SASL credentials are configured; ',
        'set kafka.sasl (XRC_KAFKA_SASL_MECHANISM, XRC_KAFKA_SASL_USERNAME, XRC_KAFKA_SASL_PASSWORD)',
      ],
    },
  },
  XRC_KAFKA_TLS_FAILED: {
    retriable: false,
    status: 502,
    doc: [
      'The TLS handshake with a broker failed (an untrusted, expired or misnamed certificate, or no TLS at the port): ',
      'no retry mends it, so the service stops and says so.',
    ].join(''),
    messages: { default: 'TLS with Kafka broker {broker} failed: {cause} ({tlsCode}); {hint}' },
  },
  XRC_KAFKA_NOT_AUTHORIZED: {
    retriable: false,
    status: 403,
    doc: [
      'A Kafka ACL refuses this stage something its job needs (a topic, its transactional id, a consumer group); ',
      'the error names the permission to grant.',
    ].join(''),
    messages: {
      default: [
        'Kafka refused {principal} {kafkaError}: it needs {permission} ({cause}); ',
        'grant it with kafka-acls (README, "Running against a secured Kafka")',
      ],
    },
  },
  XRC_REGISTRY_UNREACHABLE: {
    retriable: true,
    status: 503,
    doc: 'The schema registry did not answer at SCHEMA_REGISTRY_URL.',
    messages: {
      default: 'the schema registry does not answer at {url} (schemaRegistry.url, SCHEMA_REGISTRY_URL): {cause}',
      preflight: 'the schema registry at {url} does not answer: {hint}',
      register: 'could not register schema under {subject} at {url} (schemaRegistry.url, SCHEMA_REGISTRY_URL): {cause}',
      lookup: 'schema registry at {url} did not answer for schema id {schemaId}: {cause}',
      lookupStatus: 'schema registry answered {status} for schema id {schemaId}',
      deleteSubject: 'could not delete registry subject {subject} at {url}: {cause}',
      notRegistered: 'the schema of {topic} is not registered yet: the schema registry has not answered',
    },
  },
  XRC_TIMEOUT: {
    retriable: true,
    status: 503,
    doc: 'An operation did not finish within its bound.',
    messages: {
      default: 'timed out after {timeoutMs} ms waiting for {what}',
      lastError: 'timed out after {timeoutMs} ms waiting for {what}: {cause}',
      gaveUp: 'gave up waiting for {what}: {why}',
      readerFailed: 'gave up waiting for {what}: the reader failed: {cause}',
      resync: 'the resync did not finish within {duration}; it goes on (xrc status, or xrc resume again to follow it)',
      catchUp: 'the secondary did not catch up within {seconds} s (see {schema} and the log)',
      commit: [
        'the secondary did not commit session time {time} within {timeoutMs} ms ',
        '(committed up to {committed})',
      ],
      journal: 'the mover did not journal session time {time} within {timeoutMs} ms (journaled up to {journaled})',
      stageAnswer: 'bench stage {stage} did not answer "{op}" within {timeoutMs} ms (log: {log})',
      stageReady: 'bench stage {stage} was not ready within {timeoutMs} ms (log: {log})',
      serviceReady: 'xrc {stage} (pid {pid}) did not say it was ready within {timeoutMs} ms (log: {log})',
    },
  },
  XRC_CLOSED: {
    retriable: false,
    status: 503,
    doc: 'A component was used after close().',
    messages: {
      default: '{component} is closed',
      notOpen: '{component} is not open',
      stopped: '{component} has stopped',
      closedWhileConnecting: '{component} closed while connecting',
      groupAborted: 'group {groupSeq} aborted: the mover is stopping',
      notTakingWrites: 'the primary of session {session} is {state}, not taking writes',
      quiesced: [
        'the primary of session {session} is quiesced for a failback and takes no writes ',
        '(POST /v1/unquiesce takes them again)',
      ],
      controller: 'controller {controller} is closed',
      volume: 'volume {volume} is closed',
      sidefile: 'sidefile {dir} is closed',
      sidefileWaiting: 'sidefile {dir} closed while the writer waited for space',
      changeBitmaps: 'change bitmaps in {dir} are closed',
      stopping: '{component} stopping',
    },
  },
  XRC_SEQUENCE_GAP: {
    retriable: false,
    status: 500,
    doc: "A controller's sequence numbers skip: a record set is missing.",
    messages: {
      default: [
        'controller {controller}: expected seq {expected}, got {got} ',
        '(record set {got}..{lastSeq} at offset {offset}); seqs {expected}..{lastMissing} are missing',
      ],
    },
  },
  XRC_TIME_REGRESSION: {
    retriable: false,
    status: 500,
    doc: 'A controller reported a time earlier than its last.',
    messages: {
      default: "controller {controller}: {what} has time {time}, earlier than the controller's latest time {latest}",
      mustExceed: [
        "controller {controller}: {what} has time {time}, earlier than the controller's latest time {latest} ",
        '(all later writes must exceed it)',
      ],
    },
  },
  XRC_CLOCK_SKEW: {
    retriable: false,
    status: 500,
    doc: "The controllers' clocks disagree by more than mover.maxClockSkewMs: groups would no longer be consistent.",
    messages: {
      default: [
        "the controllers' clocks disagree by {skewMs} ms (controller {ahead} leads, controller {behind} lags), ",
        'above mover.maxClockSkewMs = {maxSkewMs} for {forMs} ms: a write that depends on another across ',
        "controllers could get an earlier time, so no more groups are cut; synchronise the hosts' clocks (NTP, PTP) ",
        "and restart the mover (offsets from the mover's clock: {offsets})",
      ],
    },
  },
  XRC_GROUP_OUT_OF_ORDER: {
    retriable: false,
    status: 500,
    doc: 'A consistency group is not strictly after the last applied one.',
    messages: {
      default: 'group {groupSeq} has time {groupTime}, not after time {lastGroupTime} of applied group {lastGroupSeq}',
      emptyStart: [
        'group {groupSeq} (time {groupTime}, journal offset {offset}) cannot start an empty secondary: ',
        'it starts at group 1 (does the journal still retain its first group?)',
      ],
      missingGroups: [
        'group {groupSeq} (time {groupTime}) follows applied group {lastGroupSeq} (time {lastGroupTime}): ',
        'groups {firstMissing}..{lastMissing} are missing',
      ],
      offsetNotAfter: [
        'group {groupSeq} is at journal offset {offset}, ',
        'not after offset {lastOffset} of applied group {lastGroupSeq}: ',
        'was the journal topic recreated?',
      ],
      timeMismatch: [
        'group {groupSeq} in the journal has time {groupTime}, but group {groupSeq} was applied with time {applied}: ',
        'the journal does not match this secondary',
      ],
    },
  },
  XRC_GROUP_INCOMPLETE: {
    retriable: false,
    status: 500,
    doc: [
      'A marker names updates the updates topic does not hold as it says (a seq missing, a later time, another ',
      "controller's record), or the records of an older-format group are not its parts 0..parts-1 in a row; ",
      'nothing of the group is applied.',
    ].join(''),
    messages: {
      default: 'journal offset {offset} (group {groupSeq} part {part} of {parts}): {problem}',
      marker: 'the marker of group {groupSeq} at journal offset {offset} does not match the updates topic: {problem}',
    },
  },
  XRC_UPDATES_GONE: {
    retriable: false,
    status: 500,
    doc: [
      'Updates a journaled group takes were deleted from the updates topic (retention) before they were applied; ',
      'the secondary stays at its last group: suspend and resync the controllers from it.',
    ].join(''),
    messages: {
      default: [
        'group {groupSeq} takes updates-topic partition {partition} from offset {fromOffset}, ',
        'but the topic {topic} now starts at {logStart}: retention deleted them before they were applied. ',
        "Raise the updates topic's retention.ms/retention.bytes, then resync from the last applied group",
      ],
      retention: [
        'the updates topic {topic} keeps {updatesSetting}={updates}, less than the journal {journal} ',
        '({journalSetting}={journalValue}): the journal would name updates that are gone. ',
        "Raise the updates topic's {updatesSetting} (or -1) or lower the journal's",
      ],
    },
  },
  XRC_DECODE_FAILED: {
    retriable: false,
    status: 500,
    doc: 'A record is not a valid record set (not Avro, unknown schema, bad magic byte).',
    messages: {
      notAvroSchema: 'schema id {schemaId} is not an Avro schema: {cause}',
      schemaType: 'schema id {schemaId} is {schemaType}, not AVRO',
      unknownSchema: 'unknown schema id {schemaId}: the registry has no such schema',
      unreadableSchema: 'schema id {schemaId} cannot be read as {subject}: {cause}',
      invalidAvroValue: 'not a valid Avro {subject} value (schema id {schemaId}): {cause}',
      truncatedAvroValue: 'not a valid Avro {subject} value (schema id {schemaId}): truncated',
      trailingBytes: 'not a valid Avro {subject} value (schema id {schemaId}): {trailing} trailing bytes',
      walkTruncated:
        'not a valid Avro {subject} value (schema id {schemaId}): truncated in {field} at byte {at} of {bytes}',
      walkInvalid: 'not a valid Avro {subject} value (schema id {schemaId}): {field} at byte {at}: {problem}',
      shortHeader: 'not in the Confluent wire format: {bytes} bytes, fewer than the {headerBytes}-byte header',
      magicByte: 'not in the Confluent wire format: magic byte {magic}, expected {expected}',
      wireFormat: 'not in the Confluent wire format ({bytes} bytes, first byte {firstByte})',
      noValue: 'not in the Confluent wire format (no value)',
      markerUpdates: [
        '{topic} partition {partition} offset {offset}, which group {groupSeq} (journal offset {journalOffset}) ',
        'takes, does not decode: {cause}',
      ],
      value: 'schema id {schemaId}: {cause}',
      notJsonCommand: '{where}: not a JSON command',
      notResumeCommand:
        '{where}: not a resume command (command, session, controller, partition, offset, discardMissing)',
      noRecordValue: '{where}: a record with no value',
      noJournalValue: 'journal record at offset {offset} has no value',
      copySignature: 'not a binary COPY stream: bad signature',
      copyTrailingBytes: 'binary COPY stream: bytes after the trailer',
      copyTruncated: 'binary COPY stream truncated',
      copyHeaderTruncated: 'binary COPY stream truncated in its header',
      blockRowShape: 'volume "{volume}": unexpected row shape in the block table',
    },
  },
  XRC_INVALID_RECORD: {
    retriable: false,
    status: 400,
    doc: 'A record set names an unknown controller or volume, a block out of range, or a payload of partial blocks.',
    messages: {
      default: 'invalid record set from controller {controller} (seq {firstSeq}..{lastSeq}): {problem}',
      schemaMismatch: 'value does not fit schema {subject}: {cause}',
      notInteger: '{what} must be a non-negative integer, got "{value}"',
      notPercentEncoded: '{what} is not valid percent-encoding: "{value}"',
      wrongPartition: '{where}: a record set of controller {controller} (partition = controller id)',
      headerMismatch: '{where}: header {header} is "{headerValue}" but the record set says {recordValue}',
      notGroupEnd: [
        'journal record at offset {offset} is not the last part of a group of session "{session}" ',
        '(session "{recordSession}", part {part} of {parts}, {marks} marks)',
      ],
      badCount: 'count must be a positive integer, got {count}',
      foreignVolume: 'volume "{volume}" does not belong to controller {controller} (its volumes: {volumes})',
      partialBlocks: 'data must be a non-zero multiple of the block size {blockSize} bytes, got {got} bytes',
      outsideVolume: 'blocks {first}..{last} are outside volume "{volume}" (blocks 0..{lastBlock})',
      notMicroseconds: '{what} must be a non-negative integer number of microseconds, got {time}',
      timeAhead:
        'causal time {time} is {leadSeconds} s ahead of the session clock (at most {maxAheadSeconds} s allowed)',
      group: 'group {groupSeq} (time {groupTime}): {problem}',
      copyShort: 'group {groupSeq}: COPY wrote {written} of {blocks} blocks',
      beyondSafeInteger: '{what} {value} is beyond 2^53',
      storedBlock: [
        'volume "{volume}" block {block}: stored row out of order, out of range ',
        'or not {blockSize} bytes ({bytes})',
      ],
    },
  },
  XRC_RECORD_TOO_LARGE: {
    retriable: false,
    status: 413,
    doc: 'A record set exceeds the configured maximum size.',
    messages: {
      default: '{where}: {bytes} bytes, over {setting} ({maxBytes})',
      write: 'a write of {bytes} bytes exceeds the largest one record set carries ({maxBytes} bytes)',
      journalMarks: 'the marks of {controllers} controllers do not fit in a journal record of {maxBytes} bytes',
      journalBlock: 'a block of {bytes} bytes does not fit in a journal record of {maxBytes} bytes',
      journalPart: 'journal part {part} of group {groupSeq} is {bytes} bytes, over {maxBytes} (a sizing bug)',
      journalMarker: [
        'a group at time {groupTime} would set aside {deadLetters} dead-lettered updates-topic offsets, ',
        'over the {maxSetAside} its marker holds in a journal record of {setting}: ',
        'raise {setting} (the dead letters lie between writes of one time, so no earlier cut helps)',
      ],
      journalMarkerSize:
        'the marker of group {groupSeq} is {bytes} bytes (bound {bound}), over {maxBytes} (a sizing bug)',
    },
  },
  XRC_DUPLICATE_SEQUENCE: {
    retriable: false,
    status: 500,
    doc: [
      'A record set repeats seqs a controller sent before, but with later times: not a re-send. ',
      'It is dead-lettered and dropped; the session goes on.',
    ].join(''),
    messages: {
      default: [
        'controller {controller}: seqs {firstSeq}..{lastSeq} at offset {offset} were taken before, ',
        'but with times up to {latest}, and this record set has time {time}: not a re-send',
      ],
    },
  },
  XRC_CONTROLLER_FROZEN: {
    retriable: false,
    status: 409,
    doc: [
      "A controller's stream is broken (a gap, a time regression, an invalid record carrying its next seqs): ",
      'the mover froze it, so the consistency time stays at its last report, until `xrc session resume`.',
    ].join(''),
    messages: {
      default: 'controller {controller} is frozen: {problem}',
      operatorResumed: 'operator resumed controller {controller} at offset {offset}',
    },
  },
  XRC_COMMIT_UNKNOWN: {
    retriable: true,
    status: 503,
    doc: [
      'The connection failed during a PostgreSQL COMMIT: ',
      'whether the group committed is read back from the control table before anything is retried.',
    ].join(''),
    messages: { default: 'the connection failed during COMMIT, so whether it committed is unknown: {cause}' },
  },
  XRC_SESSION_HALTED: {
    retriable: false,
    status: 503,
    doc: 'The session is halted; an operator action is needed to resume.',
    messages: {
      default: '{stage} halted: {problem} [{haltCode}]',
      resyncStopped: '{mirror}: the resync stopped; it goes on once the primary resumes (xrc resume)',
      pipelineStopped: 'the pipeline stopped: {problem}',
      stageEnded: 'bench stage {stage} ended: {problem} (log: {log})',
      stageFailed: 'bench stage {stage}: {problem}',
      stageExited: 'bench stage {stage} exited before it was ready: {problem} (log: {log})',
      serviceExited: 'xrc {stage} (pid {pid}) exited with {how} before it was asked to stop (log: {log})',
      serviceHalted: 'xrc {stage} (pid {pid}) is halted: {problem} (log: {log})',
      unexpected: '{stage} halted: {cause}',
    },
  },
  XRC_SIDEFILE_FULL: {
    retriable: true,
    status: 503,
    doc: "The controller's sidefile reached its bound.",
    messages: {
      default: [
        'sidefile {dir} is full: {bytes} of {maxBytes} bytes held, ',
        'no room for {entryBytes} more after waiting {waitedMs} ms',
      ],
      suspended: 'sidefile {dir}: the session suspended while the writer waited {waitedMs} ms for space',
    },
  },
  XRC_SIDEFILE_CORRUPT: {
    retriable: false,
    status: 500,
    doc: 'A sidefile entry before the tail fails its check (CRC, length, magic); the error names the file and offset.',
    messages: {
      default: 'sidefile entry at {file} offset {offset} is damaged: {problem}',
      stateFile: 'state file {file} is damaged: {cause}',
      failedEarlier: 'sidefile {dir} failed earlier and takes no more writes',
      segment: 'sidefile segment {file} is damaged at offset {offset}: {problem}',
      segmentNotLast:
        'sidefile segment {file} is damaged at offset {offset}: {problem} (not the last segment, so not a torn tail)',
      segmentsOverlap: 'sidefile segments {previous} and {file} overlap ({previousEnd} > {base})',
      windowEntry: 'sidefile entry {where} is a resync window event, not a write',
      notWriteEntry: 'sidefile entry {where} is not a write entry ({bytes} bytes, kind {kind})',
      notWindowEntry: 'sidefile entry {where} is not a resync window event ({bytes} bytes, event {event})',
      shortEntry: 'sidefile entry {where} is shorter than its volume name',
      entryOrder: 'sidefile entry {where}: seq {seq} time {time} does not follow seq {lastSeq} time {lastTime}',
      windowOrder: [
        'sidefile entry {where}: a resync window event before seq {seq} at time {time} ',
        'does not follow seq {lastSeq} time {lastTime}',
      ],
      bitmapWrite: 'could not write the change bitmaps in {dir}: {cause}',
      generationsFile: 'change generations file {file} is damaged: {problem}',
    },
  },
  XRC_FENCED: {
    retriable: false,
    status: 409,
    doc: [
      'Another instance took over: a second mover claimed the transactional id, ',
      'or `xrc failover` fenced the secondary (its applier applies nothing more).',
    ].join(''),
    messages: {
      secondary: [
        'the secondary of session "{session}" was fenced by the failover to session "{fencedBy}": ',
        'group {groupSeq} and every later one of this session is not applied',
      ],
      default: 'transactional id {transactionalId} was taken over by another mover; this one commits nothing more',
      journalGroup: [
        'transactional id {transactionalId} was taken over by another mover (or the broker expired the transaction); ',
        'group {groupSeq} is not journaled by this mover',
      ],
    },
  },
  XRC_JOURNAL_WRITE_FAILED: {
    retriable: true,
    status: 503,
    doc: [
      'A group could not be journaled, or whether its transaction committed is unknown; ',
      'the mover re-reads the journal tail before the next group.',
    ].join(''),
    messages: {
      default: 'journaling group {groupSeq} (T={groupTime}) failed at {phase}: {cause}; committed: {committed}',
      afterCommit:
        'journaling group {groupSeq} (T={groupTime}) failed after committed: {cause}; committed: {committed}',
      expired: [
        'journaling group {groupSeq} (T={groupTime}) failed at {phase}: the transaction was open {elapsedMs} ms, ',
        'past mover.transactionTimeoutMs ({transactionTimeoutMs}), and the broker aborted it; committed: no',
      ],
    },
  },
  XRC_NOT_FOUND: {
    retriable: false,
    status: 404,
    doc: 'A session, volume, snapshot or group does not exist.',
    messages: {
      path: 'no such path {path}',
      topic: 'topic {topic} does not exist: is the session name right (--session, session.name)?',
      secondary: '{cause} (schema {schema}: has an applier or a replay run with it?)',
      volumeFile: 'no primary answers at {url} and there is no volume file {file} (session.dataDir, session.name)',
      volumeFileOnly:
        'no primary to ask (--primary, producer.apiPort) and no volume file {file} (session.dataDir, session.name)',
      controller: 'controller {controller} is not configured in session "{session}"',
      volume: 'volume "{volume}" is not in session {session}',
      volumeElsewhere: [
        'volume "{volume}" belongs to controller {controller}, which this process does not run ',
        '(it runs {controllers})',
      ],
      noFrozenController: [
        'no controller of session {session} froze: ',
        'the dead-letter topic {topic} has no record with action "frozen"',
      ],
      controllerNotFrozen: [
        'no controller {controller} of session {session} froze: ',
        'the dead-letter topic {topic} has no record with action "frozen" for it',
      ],
      storeNotInitialised: 'no secondary in schema "{schema}": run init() (the applier does) first',
      storeVolume: 'volume "{volume}" is not in the secondary of session "{session}"',
      codesVolume: 'volume "{volume}" is not in the secondary in schema "{schema}"',
      nothingApplied: [
        'the secondary in schema "{schema}" has applied no group yet: ',
        'there is no consistency time to verify against (start the applier and let it apply)',
      ],
      controlRow: 'schema "{schema}" has no control row for session "{session}": run init() first',
      noSecondary: 'no secondary of session "{session}" in schema "{schema}"',
      snapshot: 'no snapshot "{name}" in the secondary of session "{session}" (schema {schema})',
      servedSnapshotGone: [
        'snapshot "{name}" of the secondary of session "{session}" (schema {schema}) was deleted ',
        'while it was served over NBD',
      ],
      noDrill: 'no drill runs in session "{session}" (schema {schema}): start one with xrc drill start',
      drillSnapshotGone: [
        'snapshot "{snapshot}" of drill "{name}" is gone (deleted by hand, or by snapshot retention): ',
        'stop the drill (xrc drill stop) and start another',
      ],
    },
  },
  XRC_PRIMARY_UNREACHABLE: {
    retriable: true,
    status: 502,
    doc: "No primary answers at its HTTP API (producer.apiPort, or the command's --primary URL): start `xrc primary`.",
    messages: {
      default: [
        'no primary answers at {url} ({why}): start one with `xrc primary` (same --config), ',
        'or pass --primary <url> if it listens elsewhere',
      ],
      write: 'write {volume}/{block} failed: {cause}',
    },
  },
  XRC_API_UNAUTHORIZED: {
    retriable: false,
    status: 401,
    doc: [
      "A request to the primary's HTTP API without the bearer token it asks for (producer.apiToken), ",
      'or with another one.',
    ].join(''),
    messages: {
      missing: [
        "the primary's HTTP API needs a bearer token: send Authorization: Bearer <token> ",
        '(the CLI sends producer.apiToken, XRC_PRIMARY_API_TOKEN)',
      ],
      wrong: [
        "the bearer token was refused: it is not the primary's producer.apiToken ",
        '(check XRC_PRIMARY_API_TOKEN where the request came from)',
      ],
    },
  },
  XRC_API_HOST_REFUSED: {
    retriable: false,
    status: 403,
    doc: [
      "A request to the primary's HTTP API named a Host that is not one of its names (a guard against DNS ",
      'rebinding): add the name clients use to producer.apiAllowedHosts.',
    ].join(''),
    messages: {
      default: [
        'Host "{host}" is not a name of this primary\'s HTTP API (it answers to {accepted}): ',
        'add the name clients reach it by to producer.apiAllowedHosts',
      ],
      missing: "a request to the primary's HTTP API must name its Host (one of {accepted})",
    },
  },
  XRC_API_UNPROTECTED: {
    retriable: false,
    status: 500,
    doc: [
      "The primary's HTTP API was to listen on an address other than loopback without a token: it refuses to ",
      'start rather than take block writes from the network unauthenticated.',
    ].join(''),
    messages: {
      default: [
        "refusing to start the primary's HTTP API on {host}, which is not a loopback address, without a token: ",
        'set producer.apiToken (XRC_PRIMARY_API_TOKEN, e.g. `openssl rand -hex 32`) or listen on 127.0.0.1 ',
        '(producer.apiHost, XRC_API_HOST)',
      ],
    },
  },
  XRC_ROLLED_BACK: {
    retriable: false,
    status: 409,
    doc: [
      'The secondary was rolled back to its last consistent image (`xrc rollback`); ',
      'the applier applies nothing more until the mirror is re-established (`xrc resync`).',
    ].join(''),
    messages: {
      default: [
        'the secondary of session "{session}" was rolled back to its last consistent image; ',
        're-establish the mirror (xrc resync) before applying group {groupSeq}',
      ],
      noRebase: 'the secondary of session "{session}" was rolled back; it is not rebased on a new journal',
    },
  },
  XRC_CONFLICT: {
    retriable: false,
    status: 409,
    doc: [
      'A request conflicts with what the secondary holds or is doing: a snapshot name already taken, ',
      'a snapshot asked of an image that is not consistent (a resync being applied) or not pinned yet.',
    ].join(''),
    messages: {
      snapshotNameTaken: 'a snapshot named "{name}" already exists in the secondary of session "{session}"',
      snapshotWhileInconsistent: [
        'the secondary of session "{session}" is inconsistent (a resync is being applied after group {groupSeq}), ',
        'so a snapshot now would not be a consistent image: give a target group or time ',
        '(it is taken at the first consistent group from it), or wait for the resync to end',
      ],
      liveImageInconsistent: [
        'the live image of the secondary of session "{session}" is inconsistent (a resync is being applied ',
        'after group {groupSeq}): serve a snapshot, or wait for the resync to end',
      ],
      snapshotPending: [
        'snapshot "{name}" is pending (target {target}): it pins a group once the applier reaches it, ',
        'and has no image before',
      ],
      drillRunning: [
        'drill "{name}" already runs in session "{session}" (group {groupSeq}, started {startedAt}): ',
        'stop it first (xrc drill stop), or serve it again (xrc drill serve)',
      ],
      drillStopping: [
        'drill "{name}" of session "{session}" is being stopped: ',
        'run xrc drill stop to finish discarding it',
      ],
      drillServed: 'drill "{name}" of session "{session}" is already served over NBD by {holder}',
      drillInconsistent: [
        'the secondary of session "{session}" is inconsistent (a resync is being applied after group {groupSeq}): ',
        'start the drill --at-group of a snapshot taken before the resync, or wait for the resync to end',
      ],
      drillServerHolds: [
        'drill "{name}": its NBD server ({holder}) did not let go within {timeoutMs} ms: ',
        'stop that process, then run xrc drill stop again',
      ],
      drillEnded: 'drill "{name}" of session "{session}" is no longer running: its overlay takes no more writes',
    },
  },
  XRC_NBD_PROTOCOL: {
    retriable: false,
    status: 400,
    doc: [
      'An NBD client broke the protocol (bad magic, unknown client flags, ',
      'a malformed or oversized option or request); ',
      'the reason is logged and the connection closed.',
    ].join(''),
    messages: { default: 'the NBD peer broke the protocol ({nbdReason}): {problem}' },
  },
  XRC_FAILOVER_REFUSED: {
    retriable: false,
    status: 409,
    doc: [
      '`xrc failover` or `xrc failback` refused because a precondition does not hold ',
      '(a primary it would replace still answers, groups not applied yet, another takeover); ',
      'the message names it and what to do.',
    ].join(''),
    messages: {
      primaryAnswers: [
        'the primary of session "{session}" still answers at {url}: a failover would fence a running site. ',
        'Stop it, or pass --force if it is cut off from its writers and must be replaced anyway',
      ],
      groupsNotApplied: [
        '{groups} group(s) of session "{session}" are journaled but not applied to the secondary after ',
        '{waitedMs} ms: start the applier (xrc applier) so they are applied, or pass --force to fail over ',
        'without them (their writes are counted as lost)',
      ],
      fencedByOther: [
        'the secondary of session "{session}" was already fenced by a failover to session "{fencedBy}", ',
        'not "{newSession}": that session is the primary now',
      ],
      targetInUse: [
        'the primary folder {dir} of session "{newSession}" is in use (controller state without a finished ',
        'failover record): refusing to overwrite volumes a primary may have written; choose another --new-session',
      ],
      noConfigFile: "{command} writes the new session's config from the old one: give it with --config <file>",
      sameSession: '--new-session must name a new session, not "{session}" itself',
      notFailedOver: [
        'session "{session}" is not the product of a failover (no {file}): ',
        'failback returns a session made by xrc failover to its original site',
      ],
      takeoverStillWriting: [
        'the primary of session "{session}" at {url} still takes writes after quiescing: ',
        '{detail}',
      ],
      imageMoved: [
        'the secondary of session "{session}" moved while volume "{volume}" was written (group {found}, ',
        'expected {expected}): something applied to a fenced image; run the failover again',
      ],
      quiesceFailed: 'the primary of session "{session}" at {url} could not be quiesced: {detail}',
      volumeMissing: [
        'the original site\'s volume file {file} of volume "{volume}" is missing: failback copies into the ',
        'volumes as they were when the site went down; restore them, or rebuild the site with a full copy',
      ],
    },
  },
  XRC_SERVICE_RUNNING: {
    retriable: false,
    status: 409,
    doc: [
      'An operator action needs a service stopped first ',
      '(`xrc resync` and `xrc rollback` need the mover and the applier stopped); the error names it.',
    ].join(''),
    messages: {
      applier: 'the applier of session {session} is connected to the secondary: stop it first',
      mover: [
        'the mover of session {session} is reading the updates topic (group {groupId}): stop it first ',
        '(a mover killed moments ago stays a member until its session times out, 30 s)',
      ],
    },
  },
} as const satisfies Record<string, CodeSpec>
