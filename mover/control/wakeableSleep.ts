/**
 * A sleep that another part of the mover can cut short: the control loop
 * waits for its next cut here, and a full group, a stop, a halt or a restart
 * request wakes it.
 */
export class WakeableSleep {
  #wake: (() => void) | undefined

  /** Resolves after `ms`, or as soon as wake() is called. */
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const finish = (): void => {
        clearTimeout(timer)
        this.#wake = undefined
        resolve()
      }
      const timer = setTimeout(finish, ms)
      this.#wake = finish
    })
  }

  /** Ends the current sleep, if any. */
  wake(): void {
    this.#wake?.()
  }
}
