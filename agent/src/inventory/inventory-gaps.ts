import { isBackstopError, type InventoryBody, type InventoryPart } from '@backstop/shared'

type Incomplete = NonNullable<InventoryBody['incomplete']>[number]

/** Long enough for a tool's first stderr lines; the wire allows more, the coverage view needs no more. */
const REASON_MAX = 2000

/**
 * The parts of one inventory whose tool failed, each with its first failure. One failing tool (a `zfs list` of a
 * stopped zfs-fuse, a hung pvesh) leaves only its parts unknown: the rest of the inventory — block devices that say
 * which removable media are plugged in, the bare-metal image, the other asset kinds — is still reported, and the
 * collector keeps its last knowledge of the unknown parts instead of taking them as gone.
 */
export class InventoryGaps {
  private readonly byPart = new Map<InventoryPart, string>()

  /** `list()`'s result, or null when it failed: then every part in `parts` is unknown this time. */
  async attempt<T>(parts: readonly InventoryPart[], list: () => Promise<T>): Promise<T | null> {
    try {
      return await list()
    } catch (e) {
      const reason = (isBackstopError(e) ? `${e.code}: ${e.message}` : String((e as Error).message ?? e)).slice(
        0,
        REASON_MAX,
      )
      for (const p of parts) {
        if (!this.byPart.has(p)) {
          this.byPart.set(p, reason)
        }
      }
      return null
    }
  }

  list(): Incomplete[] {
    return [...this.byPart].map(([part, reason]) => ({ part, reason })).sort((a, b) => a.part.localeCompare(b.part))
  }
}
