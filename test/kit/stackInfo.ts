import type {} from 'vitest'

/** Addresses of the real servers the integration tests run against. */
export interface StackInfo {
  kafkaBrokers: string[]
  registryUrl: string
  databaseUrl: string
}

declare module 'vitest' {
  export interface ProvidedContext {
    stack: StackInfo
  }
}
