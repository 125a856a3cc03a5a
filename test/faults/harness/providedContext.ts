import type {} from 'vitest'

/** What the fault suite's global setup gives its test files: the file their figures go to. */
declare module 'vitest' {
  export interface ProvidedContext {
    faultFigures: string
  }
}
