/**
 * The statements of the segment codes (table segment_codes: blockStoreDdl.ts;
 * rules: validFlags.ts). Parameters are listed with each.
 */
import type { StoreTables } from '../store/blockStoreDdl.js'

/**
 * $1 volume ids, $2 segments (validFlags.segmentsWritten: once each; other
 * parameter numbers by `volumeIds`, `segments`): clears the valid flag and
 * bumps the generation, creating the row (generation 1) of a segment
 * without one. The apply runs it once per batch, inside the statement that
 * records the batch's groups (storeSql.ts recordGroupsSql).
 */
export function invalidateSegmentsSql(t: StoreTables, volumeIds = '$1', segments = '$2'): string {
  return `INSERT INTO ${t.segmentCodes} AS s (volume_id, segment, generation, valid)
    SELECT v, g, 1, false FROM unnest(${volumeIds}::int[], ${segments}::bigint[]) AS k(v, g)
    ON CONFLICT (volume_id, segment) DO UPDATE SET generation = s.generation + 1, valid = false`
}

/**
 * $1 volume id, $2 segments, $3 blocks per segment, $4 blocks of the volume,
 * $5 a zero block: per segment its code computed in the server (sha256 over
 * its blocks in order, a block without a row as zeros), the stored row's
 * generation (0 without one), valid flag and stored code. Read in the
 * caller's snapshot, so code and generation belong together.
 */
export function computeCodesSql(t: StoreTables): string {
  return `SELECT s.segment, sha256(string_agg(coalesce(b.data, $5::bytea), ''::bytea ORDER BY g.block)) AS code,
      coalesce(c.generation, 0) AS generation, coalesce(c.valid, false) AS valid, c.code AS stored
    FROM unnest($2::bigint[]) AS s(segment)
    CROSS JOIN LATERAL generate_series(s.segment * $3, least((s.segment + 1) * $3, $4) - 1) AS g(block)
    LEFT JOIN ${t.blocks} b ON b.volume_id = $1 AND b.block = g.block
    LEFT JOIN ${t.segmentCodes} c ON c.volume_id = $1 AND c.segment = s.segment
    GROUP BY s.segment, c.generation, c.valid, c.code
    ORDER BY s.segment`
}

/**
 * $1 volume ids, $2 segments, $3 generations read, $4 codes: sets each code
 * valid only where the segment is still at the generation its code was
 * computed from (validFlags.mayValidate); a segment without a row gets one
 * at generation 0. Returns the rows set valid.
 */
export function validateCodesSql(t: StoreTables): string {
  return `INSERT INTO ${t.segmentCodes} AS s (volume_id, segment, generation, valid, code, computed_at)
    SELECT v, g, gen, true, code, now() FROM unnest($1::int[], $2::bigint[], $3::bigint[], $4::bytea[])
      AS k(v, g, gen, code)
    ON CONFLICT (volume_id, segment) DO UPDATE SET valid = true, code = EXCLUDED.code, computed_at = now()
      WHERE s.generation = EXCLUDED.generation`
}

/**
 * $1 limit, $2 blocks per segment, $3 and $4 the (volume id, segment) to
 * read on from, exclusive ((-1, -1) from the start): segments whose code is
 * not valid with their generation, invalidated ones first (in (volume,
 * segment) order from there, by the partial index of invalid codes), then
 * those without a row (generation 0).
 */
export function segmentsToRecomputeSql(t: StoreTables): string {
  return `(SELECT volume_id, segment, generation FROM ${t.segmentCodes}
      WHERE NOT valid AND (volume_id, segment) > ($3::int, $4::bigint) ORDER BY volume_id, segment LIMIT $1)
    UNION ALL
    (SELECT v.id AS volume_id, g.segment, 0::bigint AS generation FROM ${t.volumes} v
      CROSS JOIN LATERAL generate_series(0, (v.blocks + $2 - 1) / $2 - 1) AS g(segment)
      WHERE NOT EXISTS (SELECT 1 FROM ${t.segmentCodes} c WHERE c.volume_id = v.id AND c.segment = g.segment)
      ORDER BY v.id, g.segment LIMIT $1)
    LIMIT $1`
}
