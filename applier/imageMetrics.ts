/**
 * Metrics of the secondary image's consistency (resyncImage.ts), read from
 * the store when scraped: 1 while the image is a consistent one, 0 while a
 * resync is being applied or after a rollback; and the block versions kept
 * for a rollback.
 */
import { Gauge, type Registry } from 'prom-client'
import type { ImageState } from './resync/index.js'

export function registerImageMetrics(registry: Registry, image: () => ImageState | undefined): void {
  new Gauge({
    name: 'xrc_applier_image_consistent',
    help: 'Whether the secondary is a consistent image: 1, or 0 while a resync is applied (or it was rolled back)',
    registers: [registry],
    collect() {
      const s = image()
      if (s !== undefined) this.set(s.state === 'consistent' ? 1 : 0)
    },
  })
  new Gauge({
    name: 'xrc_applier_retained_block_versions',
    help: 'Block versions kept so the secondary can roll back to its last consistent group while a resync is applied',
    registers: [registry],
    collect() {
      const s = image()
      if (s !== undefined) this.set(s.retainedVersions)
    },
  })
}
