/**
 * Tables of a session's secondary block store, all in the session's own
 * PostgreSQL schema. Every statement is idempotent (IF NOT EXISTS), so
 * init() can run on every start and a new table is added the same way.
 *
 *   volumes         name, size in blocks, block size; `id` keys the blocks
 *   block_rows      every stored version of a block, with the group (seq,
 *                   time) that wrote it and superseded_time: NULL for the
 *                   live row, else the time of the group that replaced it
 *                   while a snapshot still saw it (copy on write). Its
 *                   volume_id is one of volumes' ids without a foreign key
 *                   (a per-row check on the hot path; the store writes only
 *                   ids it read from volumes, whose rows are never deleted)
 *   blocks          the current image: a view of block_rows' live rows, one
 *                   per block ever written; a block with no row reads as
 *                   zeros, so a fresh volume costs nothing. Readers read it;
 *                   the apply writes block_rows.
 *   control         one row per session: the last applied group (seq, time)
 *                   and its journal partition/offset. It is locked FOR UPDATE
 *                   by every apply, so two appliers cannot interleave.
 *   applied_groups  one row per applied group, group_seq the primary key: a
 *                   group applied twice fails on the key, and the table proves
 *                   after the fact that none was (the crash tests count on it)
 *
 * Block data storage. A 4 KiB bytea is above the TOAST threshold (~2 KiB),
 * so it is either compressed and/or moved out of line. Measured on the
 * development machine (PostgreSQL 15, 2 cores, 40 groups of 2000 blocks
 * overwriting a 16384-block volume; bytes per block after VACUUM FULL):
 *   random data:      EXTERNAL 5.7 KB, MAIN 8.2 KB (one 4 KiB row per 8 KiB
 *                     page), default pglz 5.7 KB, lz4 5.7 KB
 *   text-like data:   EXTERNAL 5.7 KB, pglz 1.7 KB but apply at half the
 *                     speed (compression CPU), lz4 2.9 KB at full speed
 * So data is EXTENDED with lz4 compression where the server has lz4 (Debian
 * and the official images do): incompressible blocks cost what EXTERNAL
 * does, compressible ones half, and apply speed is unchanged. Without lz4
 * the column is EXTERNAL (no pglz: its CPU cost halves apply throughput).
 *
 *   snapshots       one row per snapshot (snapshots.ts): 'pending' with its
 *                   target (at_group or at_time) until the applier reaches
 *                   it, then 'active', pinning a group (seq, time, journal
 *                   offset). A snapshot copies no data when it is made.
 *   snapshot_versions  a view of block_rows' kept rows: those a group replaced
 *                   while an active snapshot still saw them (copy on write,
 *                   in the apply transaction: snapshotApply.ts). Copy on
 *                   write is an UPDATE of superseded_time: the row keeps its
 *                   data where it is (a 4 KiB value lives in TOAST; moving it
 *                   to a table of its own copied it, and applying with a
 *                   snapshot held ran at 0.67x). A version is in the image pinned at time
 *                   P iff group_time <= P < superseded_time; a snapshot reads
 *                   blocks (group_time <= P) plus those versions. Ordered by
 *                   time, not seq: a rebase on a new journal numbers its
 *                   groups from 1 again, their times only grow. (The name
 *                   block_versions is the resync rollback image's.)
 *   control.snapshot_pin_time, control.snapshots_pending: the newest active
 *                   pin and the count of pending snapshots, kept by whatever
 *                   creates, activates or deletes a snapshot (all of which lock
 *                   the control row first). They live in the control row so the
 *                   apply reads them with its FOR UPDATE, no extra round trip:
 *                   a subquery there would run on the statement's snapshot,
 *                   taken before the lock was granted, and miss a snapshot
 *                   created by the transaction it waited for.
 *
 *   segment_codes   per segment of session.segmentBlocks blocks, its code
 *                   (SHA-256 of its blocks: lib/segmentCodes.ts), a valid flag
 *                   and a generation (applier/codes/). Every apply batch clears
 *                   the flag of the segments it writes and bumps their
 *                   generation, in its transaction, in one statement; the
 *                   applier's recomputer sets a code valid only at the
 *                   generation it read it at. No row: no code yet (generation 0).
 *   control.segment_blocks: the segment size the codes were made with; init()
 *                   drops every code when the setting changed.
 *   control.fenced_by, control.fenced_at: set by a failover (applier/store/
 *                   fence.ts): the session that took over from this image. The
 *                   apply reads them with its FOR UPDATE and applies nothing
 *                   more once they are set (XRC_FENCED), so a group journaled
 *                   late by the old site's mover never lands on the image the
 *                   new primary was started from.
 */
import { createSchemaIfMissing, ident } from '../../lib/postgres.js'

/** Fully qualified, quoted table names of one store. */
export interface StoreTables {
  schema: string
  volumes: string
  /** The block rows, live and kept for snapshots (a table; writes go here). */
  blockRows: string
  /** The live image: a view of blockRows (superseded_time IS NULL); readers read it. */
  blocks: string
  control: string
  appliedGroups: string
  snapshots: string
  /** The versions snapshots keep: a view of blockRows (superseded_time IS NOT NULL). */
  snapshotVersions: string
  segmentCodes: string
}

export function storeTables(schema: string): StoreTables {
  const s = ident(schema)
  return {
    schema: s,
    volumes: `${s}.volumes`,
    blockRows: `${s}.block_rows`,
    blocks: `${s}.blocks`,
    control: `${s}.control`,
    appliedGroups: `${s}.applied_groups`,
    snapshots: `${s}.snapshots`,
    snapshotVersions: `${s}.snapshot_versions`,
    segmentCodes: `${s}.segment_codes`,
  }
}

/** The DDL of a store, in order; each statement idempotent. */
export function blockStoreDdl(t: StoreTables): string[] {
  return [
    createSchemaIfMissing(t.schema),
    `CREATE TABLE IF NOT EXISTS ${t.volumes} (
      id int GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
      name text NOT NULL UNIQUE,
      blocks bigint NOT NULL CHECK (blocks > 0),
      block_size int NOT NULL CHECK (block_size > 0),
      created_at timestamptz NOT NULL DEFAULT now()
    )`,
    ...blockRowsDdl(t),
    `CREATE TABLE IF NOT EXISTS ${t.control} (
      session text PRIMARY KEY,
      group_seq bigint NOT NULL DEFAULT 0 CHECK (group_seq >= 0),
      group_time bigint,
      journal_partition int NOT NULL DEFAULT 0,
      journal_offset bigint,
      applied_at timestamptz,
      CHECK ((group_seq = 0) = (group_time IS NULL) AND (group_seq = 0) = (journal_offset IS NULL))
    )`,
    `CREATE TABLE IF NOT EXISTS ${t.appliedGroups} (
      group_seq bigint PRIMARY KEY CHECK (group_seq > 0),
      group_time bigint NOT NULL UNIQUE,
      journal_partition int NOT NULL,
      journal_offset bigint NOT NULL,
      updates int NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`,
    ...snapshotDdl(t),
    ...segmentCodesDdl(t),
    ...fenceDdl(t),
  ]
}

/** The control row's fence (see the file comment). */
function fenceDdl(t: StoreTables): string[] {
  return [
    onlyIf(
      columnMissing(t.control, 'fenced_by'),
      `ALTER TABLE ${t.control} ADD COLUMN fenced_by text, ADD COLUMN fenced_at timestamptz`,
    ),
  ]
}

/**
 * The block rows and the live image's view (see the file comment). A store
 * made before kept live rows in a table named blocks (primary key (volume_id,
 * block)) and snapshot versions in a table of their own: it is turned into
 * this layout once, in one DO block (the versions move over, the old tables
 * go), so an old store keeps every block and every snapshot.
 */
function blockRowsDdl(t: StoreTables): string[] {
  const oldLayout = `EXISTS (SELECT 1 FROM pg_class WHERE oid = to_regclass('${t.blocks}') AND relkind = 'r')`
  return [
    onlyIf(
      oldLayout,
      // no foreign key to volumes: its check cost a lookup per block row applied, and the store only ever writes
      // ids it read from volumes (rows of volumes are never deleted); stores made before lose theirs here
      `ALTER TABLE ${t.blocks} DROP CONSTRAINT IF EXISTS blocks_volume_id_fkey, DROP CONSTRAINT IF EXISTS blocks_pkey,
         ADD COLUMN superseded_time bigint,
         ADD CONSTRAINT block_rows_superseded_after CHECK (superseded_time IS NULL OR superseded_time > group_time);
       ALTER TABLE ${t.blocks} RENAME TO block_rows;
       IF to_regclass('${t.snapshotVersions}') IS NOT NULL THEN
         INSERT INTO ${t.blockRows} (volume_id, block, group_seq, group_time, superseded_time, data)
           SELECT volume_id, block, group_seq, group_time, superseded_time, data FROM ${t.snapshotVersions};
         DROP TABLE ${t.snapshotVersions};
       END IF`,
    ),
    `CREATE TABLE IF NOT EXISTS ${t.blockRows} (
      volume_id int NOT NULL,
      block bigint NOT NULL CHECK (block >= 0),
      group_seq bigint NOT NULL,
      group_time bigint NOT NULL,
      data bytea NOT NULL,
      superseded_time bigint,
      CONSTRAINT block_rows_superseded_after CHECK (superseded_time IS NULL OR superseded_time > group_time)
    )`,
    // one live row per block; the kept versions of a block, one per group time; what retention and deletes scan
    `CREATE UNIQUE INDEX IF NOT EXISTS block_rows_live ON ${t.blockRows} (volume_id, block)
      WHERE superseded_time IS NULL`,
    `CREATE UNIQUE INDEX IF NOT EXISTS block_rows_kept ON ${t.blockRows} (volume_id, block, group_time)
      WHERE superseded_time IS NOT NULL`,
    `CREATE INDEX IF NOT EXISTS block_rows_superseded ON ${t.blockRows} (superseded_time)
      WHERE superseded_time IS NOT NULL`,
    onlyIf(
      `to_regclass('${t.blocks}') IS NULL`,
      `CREATE VIEW ${t.blocks} AS SELECT volume_id, block, group_seq, group_time, data
        FROM ${t.blockRows} WHERE superseded_time IS NULL`,
    ),
  ]
}

/** The segment codes with valid flags (see the file comment). */
function segmentCodesDdl(t: StoreTables): string[] {
  return [
    `CREATE TABLE IF NOT EXISTS ${t.segmentCodes} (
      volume_id int NOT NULL,
      segment bigint NOT NULL CHECK (segment >= 0),
      generation bigint NOT NULL CHECK (generation >= 0),
      valid boolean NOT NULL,
      code bytea,
      computed_at timestamptz,
      PRIMARY KEY (volume_id, segment),
      CHECK (NOT valid OR code IS NOT NULL)
    )`,
    `CREATE INDEX IF NOT EXISTS segment_codes_invalid ON ${t.segmentCodes} (volume_id, segment) WHERE NOT valid`,
    onlyIf(columnMissing(t.control, 'segment_blocks'), `ALTER TABLE ${t.control} ADD COLUMN segment_blocks int`),
  ]
}

/**
 * `statement` run only when `condition` (SQL) holds. An ALTER TABLE takes its
 * ACCESS EXCLUSIVE lock before it finds there is nothing to do (ADD COLUMN IF
 * NOT EXISTS, DROP CONSTRAINT IF EXISTS), and init() runs on every start: a
 * reader of the store (xrc status, an export, a consistency check) holding
 * one table and waiting for another then deadlocks with it. The catalogue
 * check takes no lock on the table.
 */
function onlyIf(condition: string, statement: string): string {
  return `DO $ddl$ BEGIN IF ${condition} THEN ${statement}; END IF; END $ddl$`
}

/** SQL: whether `table` lacks the column `column`. */
function columnMissing(table: string, column: string): string {
  return `NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = '${table}'::regclass AND attname = '${column}'
    AND NOT attisdropped)`
}

/** The snapshot tables and the control row's snapshot summary (see the file comment). */
function snapshotDdl(t: StoreTables): string[] {
  return [
    `CREATE TABLE IF NOT EXISTS ${t.snapshots} (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      name text NOT NULL UNIQUE,
      state text NOT NULL CHECK (state IN ('pending', 'active')),
      group_seq bigint,
      group_time bigint,
      journal_offset bigint,
      at_group bigint CHECK (at_group > 0),
      at_time bigint CHECK (at_time > 0),
      created_at timestamptz NOT NULL DEFAULT now(),
      activated_at timestamptz,
      CHECK ((state = 'active') = (group_seq IS NOT NULL AND group_time IS NOT NULL AND journal_offset IS NOT NULL)),
      CHECK (at_group IS NULL OR at_time IS NULL)
    )`,
    `CREATE INDEX IF NOT EXISTS snapshots_active_time ON ${t.snapshots} (group_time) WHERE state = 'active'`,
    onlyIf(
      `to_regclass('${t.snapshotVersions}') IS NULL`,
      `CREATE VIEW ${t.snapshotVersions} AS SELECT volume_id, block, group_seq, group_time, superseded_time, data
        FROM ${t.blockRows} WHERE superseded_time IS NOT NULL`,
    ),
    onlyIf(
      columnMissing(t.control, 'snapshot_pin_time'),
      `ALTER TABLE ${t.control} ADD COLUMN snapshot_pin_time bigint,
        ADD COLUMN snapshots_pending int NOT NULL DEFAULT 0`,
    ),
  ]
}

/**
 * How block data is stored (see the file comment) in `table`'s data column
 * (blocks, snapshot_versions): lz4 when the server has it, else EXTERNAL.
 * Returns the ALTER to run when the column differs, or undefined. `current`
 * is pg_attribute's (attstorage, attcompression).
 */
export function dataStorageAlter(
  table: string,
  serverHasLz4: boolean,
  current: { storage: string; compression: string },
): string | undefined {
  if (serverHasLz4) {
    return current.storage === 'x' && current.compression === 'l'
      ? undefined
      : `ALTER TABLE ${table} ALTER COLUMN data SET STORAGE EXTENDED, ALTER COLUMN data SET COMPRESSION lz4`
  }
  return current.storage === 'e' ? undefined : `ALTER TABLE ${table} ALTER COLUMN data SET STORAGE EXTERNAL`
}
