/**
 * Change bitmaps (the update map): durable per-volume bitmaps in two
 * generations, marked while suspended and discarded once the secondary
 * confirms the older generation applied.
 */
export { type ChangeCounts, type ChangeTracker, openChangeTracker } from './changeTracker.js'
