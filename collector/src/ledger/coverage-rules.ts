/** The asset kind of a node's bare-metal image (the agent's rear job and its inventory: `host/<hostname>`). */
export const HOST_IMAGE_KIND = 'host-image'

/** A node whose agent config names no role is judged as a server. */
export const DEFAULT_NODE_ROLE = 'server'

export type CoverageStatus = 'covered' | 'gap' | 'exempt' | 'not-required' | 'gone'

export interface CoverageInput {
  readonly node: string
  readonly kind: string
  readonly id: string
  /** Listed by the node's latest inventory. */
  readonly present: boolean
  readonly coveredBy: readonly string[]
  /** The node's role from its inventory; null = not configured. */
  readonly role: string | null
  readonly exemptReason: string | null
  readonly bareMetalImageRoles: readonly string[]
}

export interface CoverageFinding {
  readonly status: CoverageStatus
  /** Only a gap fires the coverage-gap alert. */
  readonly firing: boolean
  readonly summary: string
}

/**
 * Coverage of one inventoried asset. An asset no job covers is a gap unless an operator marked it intentionally
 * unprotected; a node's bare-metal image is only required for the roles the collector config lists.
 */
export function judgeCoverage(i: CoverageInput): CoverageFinding {
  const label = `${i.kind} ${i.id} on ${i.node}`
  const role = i.role ?? DEFAULT_NODE_ROLE
  if (!i.present) {
    return { status: 'gone', firing: false, summary: `${label} is no longer in the node's inventory` }
  }
  if (i.coveredBy.length > 0) {
    return { status: 'covered', firing: false, summary: `${label} is covered by ${i.coveredBy.join(', ')}` }
  }
  if (i.exemptReason !== null) {
    return { status: 'exempt', firing: false, summary: `${label} is intentionally unprotected: ${i.exemptReason}` }
  }
  if (i.kind === HOST_IMAGE_KIND) {
    return i.bareMetalImageRoles.includes(role)
      ? {
          status: 'gap',
          firing: true,
          summary:
            `${i.node} (role ${role}) has no bare-metal image: no rear job covers ${i.id}; add one, or mark ` +
            'it intentionally unprotected',
        }
      : { status: 'not-required', firing: false, summary: `${i.node} (role ${role}) needs no bare-metal image` }
  }
  return { status: 'gap', firing: true, summary: `${label} is not covered by any backup job` }
}
