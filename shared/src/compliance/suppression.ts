import type { AlertKind } from './alert-flips.ts'

/**
 * Dependency suppression (Healthchecks #917/#316): when a node is down, the missed-backup alerts of its assets
 * are symptoms, not causes. They fold into one node-down alert so one dead NAS pages once, not twenty times.
 */
export interface NodeScopedAlert {
  readonly key: string
  readonly kind: AlertKind
  readonly node?: string | undefined
}

export interface FoldResult<T extends NodeScopedAlert> {
  /** Alerts to raise as they are. */
  readonly kept: T[]
  /** Per down node: the alerts folded into its node-down alert. */
  readonly folded: Map<string, T[]>
}

/** Asset-level kinds: symptoms of their node being down. */
export const defaultFoldedKinds: readonly AlertKind[] = ['missed-backup', 'non-compliant']

export function foldUnderDownNodes<T extends NodeScopedAlert>(
  alerts: readonly T[],
  downNodes: ReadonlySet<string>,
  foldedKinds: readonly AlertKind[] = defaultFoldedKinds,
): FoldResult<T> {
  const kept: T[] = []
  const folded = new Map<string, T[]>()
  for (const a of alerts) {
    if (a.node !== undefined && downNodes.has(a.node) && foldedKinds.includes(a.kind)) {
      const list = folded.get(a.node) ?? []
      list.push(a)
      folded.set(a.node, list)
    } else {
      kept.push(a)
    }
  }
  return { kept, folded }
}

/** Is this one alert suppressed right now? The per-alert form of foldUnderDownNodes for the hot path. */
export function isSuppressedByNode(
  a: NodeScopedAlert,
  downNodes: { has(node: string): boolean },
  foldedKinds: readonly AlertKind[] = defaultFoldedKinds,
): boolean {
  return a.node !== undefined && downNodes.has(a.node) && foldedKinds.includes(a.kind)
}
