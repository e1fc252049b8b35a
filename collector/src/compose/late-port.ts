import { BackstopError } from '@backstop/shared'

/**
 * A dependency that exists only after the part that needs it: the broker hands messages to the ingest, whose
 * acks go out through the broker. The composition root creates the port first, passes `get` to the earlier part
 * and binds the later one as soon as it exists; a call before that is a wiring bug and says which port.
 */
export interface LatePort<T> {
  get(): T
  bind(impl: T): void
}

export function latePort<T>(name: string): LatePort<T> {
  let impl: { readonly value: T } | undefined
  return {
    get(): T {
      if (impl === undefined) {
        throw new BackstopError(
          'BK_ERR_INTERNAL_ERROR',
          `${name} was used before collector/src/main.ts bound it; bind the port right after creating ${name}`,
        )
      }
      return impl.value
    },
    bind(value: T): void {
      if (impl !== undefined) {
        throw new BackstopError('BK_ERR_INTERNAL_ERROR', `${name} was bound twice in collector/src/main.ts`)
      }
      impl = { value }
    },
  }
}
