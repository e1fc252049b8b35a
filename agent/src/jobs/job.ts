import type { AssetRef, Copy, DeletedCopy, RunStatus, StorageIdentity, Trigger } from '@backstop/shared'
import type { Clock } from '../clock.ts'
import type { Exec } from '../exec/exec.ts'
import type { Log } from '../log.ts'

/**
 * One job kind per file behind an exhaustive factory (zrepl's job.go + build_jobs.go). A job is built once
 * from its resolved config; `run` does one complete pass (create, verify, replicate, prune) and reports every
 * copy it produced or saw, and every copy it deleted with the rule that decided it.
 */
export interface JobContext {
  readonly node: string
  readonly runId: string
  readonly trigger: Trigger
  readonly exec: Exec
  readonly clock: Clock
  readonly log: Log
  readonly signal: AbortSignal
  /** A directory the job may keep state in across runs (e.g. btrfs promotion tags), created for it. */
  readonly stateDir: string
  /** Progress while running (e.g. vzdump's `status: NN%`); sent as job.progress events, throttled. */
  progress(percent: number, message?: string): void
}

export interface JobResult {
  readonly status: RunStatus
  readonly copies: Copy[]
  readonly deleted: DeletedCopy[]
  readonly warnings: string[]
  readonly bytes?: number
  /** For `failed`/`partial`: what went wrong, coded. */
  readonly error?: { code: string; message: string }
  /**
   * Immutability the job proved this run for the copies at a location (`at`: a location target, or a pool/path
   * that holds it): a pull replica's probe, an append-only repository's refused delete. Merged into those copies'
   * probed storage (job-storage.ts); never declared by config.
   */
  readonly immutability?: readonly {
    readonly at: string
    readonly immutability: NonNullable<StorageIdentity['immutability']>
  }[]
  /**
   * Where a location is when its name does not say (a restic `rclone:` repository behind an alias or crypt remote),
   * as the job found it with the configuration its backend uses: job-storage.ts probes this place instead of
   * reading the location's name.
   */
  readonly placed?: readonly { readonly at: string; readonly place: JobPlace }[]
}

/** A directory of this host, or a server the agent sees no devices of. */
export type JobPlace =
  { readonly kind: 'path'; readonly path: string } | { readonly kind: 'host'; readonly host: string }

/** A line of `backstop-agent plan <job>`: what pruning would do and which rule decided it (btrbk -S, restic). */
export interface PlanLine {
  readonly location: string
  readonly name: string
  readonly createdAt: string
  readonly action: 'keep' | 'destroy'
  readonly reasons: readonly string[]
}

/**
 * What `verifyCopy` / `restoreTest` found about one copy (commands reverify-copy and restore-test). `failed` is a
 * finding about the copy (hash mismatch, snapshot gone, stream broken), carried with a coded error; a request the
 * job cannot serve at all (unknown copy id, kind cannot do it) throws a BackstopError instead.
 */
export interface CopyCheck {
  readonly result: 'ok' | 'failed'
  readonly copyId: string
  /** e.g. `sha256-manifest+tar-list`, `zfs-send-stream`. */
  readonly method: string
  /** One line per check made, in order, including the one that failed. */
  readonly checks: string[]
  readonly bytes?: number
  readonly error?: { code: string; message: string }
}

export interface Job {
  readonly name: string
  readonly kind: string
  run(ctx: JobContext): Promise<JobResult>
  /** Dry-run of retention: every existing copy with keep/destroy and why. Jobs without retention omit it. */
  plan?(ctx: JobContext): Promise<PlanLine[]>
  /** Assets this job could see on the node, for coverage-gap detection (covered or not). */
  inventory?(ctx: JobContext): Promise<AssetRef[]>
  /** Re-checks one existing copy now: integrity (hash, stream), not just existence. */
  verifyCopy?(ctx: JobContext, copyId: string): Promise<CopyCheck>
  /**
   * Restores the copy (the newest one that verifies when `copyId` is undefined) into scratch space the agent
   * owns, checks what came back, and removes the scratch again — also on failure and abort.
   */
  restoreTest?(ctx: JobContext, copyId: string | undefined): Promise<CopyCheck>
}

/** What every kind's factory returns (jobs/kinds.ts checks it per table line): plan, inventory and copy checks. */
export type KindJob = Job & Required<Pick<Job, 'plan' | 'inventory' | 'verifyCopy' | 'restoreTest'>>
