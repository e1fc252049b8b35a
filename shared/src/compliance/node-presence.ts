import type { Severity } from './alert-flips.ts'

/**
 * Why a node's status says offline: the agent stopped on purpose and said why (`shutdown`: systemd stop, reboot;
 * `restart`: upgrade or unit restart), or the broker fired its Last Will (`lost`: crash, kill -9, power or network
 * loss). A status without a cause is a Will of an agent that predates causes, so it counts as `lost`.
 */
export const offlineCauses = ['shutdown', 'restart', 'lost'] as const
export type OfflineCause = (typeof offlineCauses)[number]

export function isGracefulCause(c: OfflineCause): boolean {
  return c !== 'lost'
}

/** What the collector knows about one node's presence (times in epoch ms). */
export interface PresenceFacts {
  readonly status: 'online' | 'offline' | 'unknown'
  /** Only for `offline`; null there means `lost`. */
  readonly offlineCause: OfflineCause | null
  /** When the collector received the current status. */
  readonly statusAt: number | null
  readonly heartbeatAt: number | null
  /** From the previous judgement: was the node away then, and when did it last come back (epoch ms). */
  readonly wasAway: boolean
  readonly backAt: number | null
}

export interface PresencePolicy {
  /** No heartbeat for this long = away (a half-open session never fires the Will). It is also the silent delay. */
  readonly nodeTimeoutS: number
  /** An offline status (Will or graceful) turns into a node-down alert only after this long without return. */
  readonly nodeDownAfterS: number
  /** After a return, the node's missed-backup alerts stay folded this long: its catch-up runs get their grace. */
  readonly catchUpGraceS: number
}

export interface PresenceJudgement {
  /** Offline or silent since (epoch ms); null while present. */
  readonly awaySince: number | null
  readonly cause: OfflineCause | 'silent' | null
  /** The node-down alert fires now. */
  readonly down: boolean
  /** When node-down is (or was) due: the alert is dated there, not at the pass that noticed it. */
  readonly downAt: number | null
  /** `critical` for a lost or silent node; `warning` for one stopped on purpose that did not come back in time. */
  readonly severity: Severity
  /** The node's asset alerts are folded now (away, or back but its catch-up grace not over). */
  readonly folding: boolean
  /** What to store as the last return (epoch ms); null when never back from an absence seen. */
  readonly backAt: number | null
  /** When time alone changes this judgement (the ledger's deadline); null = only a new fact changes it. */
  readonly nextAt: number | null
  /** Why the node is away, for the alert summary; null while present. */
  readonly reason: string | null
}

const iso = (t: number): string => new Date(t).toISOString()

/**
 * Node liveness without noise: a node stopped on purpose is not paged at once, a lost one only after the delay
 * (so a quick reconnect after a network blip or a service restart says nothing), and the alerts of the node's
 * assets stay folded while it is away and until its catch-up runs had their grace after it returned — no
 * missed-backup fired on return and resolved a moment later by the catch-up.
 */
export function judgeNodePresence(f: PresenceFacts, p: PresencePolicy, now: number): PresenceJudgement {
  const silentAt = f.heartbeatAt === null ? null : f.heartbeatAt + p.nodeTimeoutS * 1000
  if (f.status === 'offline') {
    const since = f.statusAt ?? now
    const cause = f.offlineCause ?? 'lost'
    const downAt = since + p.nodeDownAfterS * 1000
    const down = now >= downAt
    return {
      awaySince: since,
      cause,
      down,
      downAt,
      severity: isGracefulCause(cause) ? 'warning' : 'critical',
      folding: true,
      backAt: f.backAt,
      nextAt: down ? null : downAt,
      reason: isGracefulCause(cause)
        ? `stopped on purpose (${cause}) at ${iso(since)} and not back after ${p.nodeDownAfterS} s`
        : `offline since ${iso(since)} (connection lost: last will)`,
    }
  }
  if (silentAt !== null && now >= silentAt) {
    return {
      awaySince: f.heartbeatAt,
      cause: 'silent',
      down: true,
      downAt: silentAt,
      severity: 'critical',
      folding: true,
      backAt: f.backAt,
      nextAt: null,
      reason: `no heartbeat since ${iso(f.heartbeatAt as number)}`,
    }
  }
  // Back when the fact that proves it arrived (the online status or the first heartbeat), not when a pass saw it.
  const proofs = [f.status === 'online' ? f.statusAt : null, f.heartbeatAt].filter((t): t is number => t !== null)
  const backAt = f.wasAway ? (proofs.length > 0 ? Math.max(...proofs) : now) : f.backAt
  const foldUntil = backAt === null ? null : backAt + p.catchUpGraceS * 1000
  const folding = foldUntil !== null && now < foldUntil
  const next = [silentAt, folding ? foldUntil : null].filter((t): t is number => t !== null)
  return {
    awaySince: null,
    cause: null,
    down: false,
    downAt: null,
    severity: 'critical',
    folding,
    backAt,
    nextAt: next.length === 0 ? null : Math.min(...next),
    reason: null,
  }
}
