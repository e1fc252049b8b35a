import { succeeded, describeFailure, type Exec, type ExecOpts, type ExecResult } from '../../exec/exec.ts'
import {
  abortReceiveArgv,
  classifyZfsError,
  holdArgv,
  receiveArgv,
  releaseArgv,
  resumeSendArgv,
  sendArgv,
  type SendFlags,
} from '../../tools/zfs.ts'
import type { ZfsSnapshotInfo } from '../../tools/zfs-parse.ts'
import type { RunReport } from '../snapshot-common/report.ts'
import type { ZfsSide } from './endpoint.ts'
import { listDatasets } from './listing.ts'
import { sshFailureOf } from './ssh-failure.ts'

/** The hold tag that pins a replication base on both sides, per job and target. */
export const holdTag = (job: string, target: string): string => `backstop-${job}-${target}`

/** `tank/data` on target `usb/backup` lands at `usb/backup/tank/data`. */
export const targetDatasetOf = (target: { readonly dataset: string }, source: string): string =>
  `${target.dataset}/${source}`

/**
 * How one job reaches one target: both ends, the local Exec that runs the pipeline, and the stream options.
 * Push: source local, target over ssh (or local). Pull: source over ssh, target local.
 */
export interface ReplicationLink {
  readonly local: Exec
  readonly source: ZfsSide
  readonly target: ZfsSide
  /** The target's name in messages and hold tags. */
  readonly name: string
  readonly send: SendFlags
  /** A stage between send and receive that limits the rate (`pv -q -L <rate>`), or null. */
  readonly throttle: readonly string[] | null
}

export interface SendPlan {
  readonly source: string
  readonly targetDs: string
  /** Short snapshot name to bring over. */
  readonly newest: string
  /** Newest source snapshot whose guid the target has, or null for a first full send. */
  readonly base: string | null
}

/**
 * Pure: what to send for one dataset. The incremental base is the newest source snapshot whose **guid**
 * exists on the target (syncoid's getmatchingsnapshot): names can be reused, guids cannot.
 * Returns null when the target already has `newest`, or `diverged` when the target has snapshots but none
 * in common (receiving would need a destructive `-F` over someone's data: left to a human).
 */
export function planSend(
  source: string,
  targetDs: string,
  sourceSnaps: readonly ZfsSnapshotInfo[],
  targetSnaps: readonly ZfsSnapshotInfo[],
  newest: string,
): SendPlan | null | 'diverged' {
  if (targetSnaps.some((t) => t.name === newest)) {
    return null
  }
  const guids = new Set(targetSnaps.map((t) => t.guid))
  // Newest by createtxg (read exactly for every candidate), not by listing order.
  const common = sourceSnaps
    .filter((s) => s.guid !== '' && guids.has(s.guid))
    .sort((a, b) => a.createtxg - b.createtxg)
    .at(-1)
  if (common === undefined) {
    return targetSnaps.length === 0 ? { source, targetDs, newest, base: null } : 'diverged'
  }
  // A target snapshot after the base is one the source does not have (taken on the target, or from another
  // source): an incremental would need `-F`, which destroys it. zrepl's ConflictDiverged; syncoid rolls it back.
  const baseGuid = common.guid
  const at = targetSnaps.findIndex((t) => t.guid === baseGuid)
  if (at >= 0 && at < targetSnaps.length - 1) {
    return 'diverged'
  }
  return { source, targetDs, newest, base: common.name }
}

/** What became of one send: done, or why not (a diverged target is reported apart from other failures). */
export type SendOutcome = 'sent' | 'failed' | 'diverged'

/**
 * Sends one dataset: `zfs send [-I base] | [pv -L rate |] zfs receive` with each stage on its side (through
 * ssh for a remote side), one local Exec.pipeline — no shell anywhere. Creates the parent on the target first
 * when missing. Failures are recorded on `report`, never thrown. `limits` are the job's: its timeout bounds the
 * send, and its signal (timeout or shutdown, run-job.ts) kills every stage.
 */
export async function sendOne(
  link: ReplicationLink,
  plan: SendPlan,
  targetDatasets: Set<string>,
  report: RunReport,
  limits: Required<Pick<ExecOpts, 'timeoutMs' | 'signal'>>,
): Promise<SendOutcome> {
  const parent = plan.targetDs.slice(0, plan.targetDs.lastIndexOf('/'))
  if (!targetDatasets.has(parent)) {
    const mk = await link.target.exec.run(['zfs', 'create', '-p', parent], { timeoutMs: 120_000 })
    if (!succeeded(mk) && classifyZfsError(mk.stderr) !== 'exists') {
      reportFailure(report, link, `could not create ${parent}`, parent, mk)
      return 'failed'
    }
    targetDatasets.add(parent)
  }
  const from = plan.base === null ? null : `${plan.source}@${plan.base}`
  const p = await runStream(link, sendArgv(`${plan.source}@${plan.newest}`, from, link.send), plan.targetDs, limits)
  const failed = p.stages.find((s) => !succeeded(s))
  if (failed !== undefined) {
    const what = `${plan.source}@${plan.newest} → ${plan.targetDs}`
    if (p.stages.some((s) => classifyZfsError(s.stderr) === 'diverged')) {
      reportDiverged(report, link, plan.targetDs, plan.source, p.stages.at(-1)!)
      return 'diverged'
    }
    reportFailure(report, link, what, plan.targetDs, failed, p.stages)
    return 'failed'
  }
  report.bytes += p.bytesPiped
  targetDatasets.add(plan.targetDs)
  return 'sent'
}

/** send → [throttle] → receive, each stage on its side. */
async function runStream(
  link: ReplicationLink,
  send: readonly string[],
  targetDs: string,
  limits: Required<Pick<ExecOpts, 'timeoutMs' | 'signal'>>,
): ReturnType<Exec['pipeline']> {
  const stages = [
    link.source.stage(send),
    ...(link.throttle === null ? [] : [[...link.throttle]]),
    link.target.stage(receiveArgv(targetDs, link.target.caps)),
  ]
  const p = await link.local.pipeline(stages, limits)
  // Messages name the zfs command, not its ssh wrapper.
  const named = [send, ...(link.throttle === null ? [] : [link.throttle]), receiveArgv(targetDs, link.target.caps)]
  return { ...p, stages: p.stages.map((s, i) => ({ ...s, argv: [...named[i]!] })) }
}

/**
 * Finishes transfers a cut left half-done (`receive -s` saved their state): `zfs send -t <token>` for each target
 * dataset that has a `receive_resume_token`. A token whose snapshot the source no longer has is dropped with
 * `zfs receive -A` (the next plan then sends from the base again, as syncoid does). Only where both ends resume.
 */
export async function resumeCut(
  link: ReplicationLink,
  tokens: ReadonlyMap<string, string>,
  report: RunReport,
  limits: Required<Pick<ExecOpts, 'timeoutMs' | 'signal'>>,
): Promise<number> {
  let resumed = 0
  for (const [targetDs, token] of tokens) {
    const p = await runStream(link, resumeSendArgv(token), targetDs, limits)
    const failed = p.stages.find((s) => !succeeded(s))
    if (failed === undefined) {
      report.bytes += p.bytesPiped
      report.warnings.push(`target ${link.name}: resumed the cut transfer into ${targetDs}`)
      resumed++
      continue
    }
    if (p.stages.some((s) => classifyZfsError(s.stderr) === 'resume-stale')) {
      const abort = await link.target.exec.run(abortReceiveArgv(targetDs), { timeoutMs: 120_000 })
      report.warnings.push(
        `target ${link.name}: the cut transfer into ${targetDs} cannot resume (its snapshot is gone on the source); ` +
          (succeeded(abort) ? 'its partial state was dropped and it is sent again' : describeFailure(abort)),
      )
      continue
    }
    reportFailure(report, link, `resuming into ${targetDs}`, targetDs, failed, p.stages)
  }
  return resumed
}

/** Parses `zfs get -H -r -o name,value receive_resume_token <root>`: datasets with a token (`-` = none). */
export function parseResumeTokens(stdout: string): Map<string, string> {
  const out = new Map<string, string>()
  for (const line of stdout.split('\n')) {
    const [name, value] = line.split('\t')
    if (name !== undefined && value !== undefined && value !== '-' && value !== '' && !name.includes('@')) {
      out.set(name, value.trim())
    }
  }
  return out
}

function reportDiverged(
  report: RunReport,
  link: ReplicationLink,
  targetDs: string,
  source: string,
  r: ExecResult,
): void {
  report.error(
    'BK_ERR_REPLICATION_DIVERGED',
    `target ${link.name}: ${targetDs} (${link.target.where}) changed since its newest snapshot or has snapshots ` +
      `${source} does not: ${describeFailure(r)}. Nothing was received or destroyed; Backstop never rolls a ` +
      `target back. Inspect ${targetDs}, then rename it (a new full replica follows) or roll it back by hand`,
  )
}

/** A failed stage: ssh problems (host key, unreachable) get their own code, a cut stream says whether it resumes. */
function reportFailure(
  report: RunReport,
  link: ReplicationLink,
  what: string,
  targetDs: string,
  failed: ExecResult,
  stages: readonly ExecResult[] = [failed],
): void {
  const ssh = sshFailureOf(stages, link)
  if (ssh !== null && ssh.fatal) {
    report.error(ssh.code, `target ${link.name}: ${what}: ${ssh.message}`)
    return
  }
  const full = stages.find((s) => classifyZfsError(s.stderr) === 'no-space')
  if (full !== undefined) {
    // A full pool is never a cut: in a pull the receive refusing here makes the ssh of the send exit 255 too.
    const pool = targetDs.split('/')[0]!
    report.error(
      'BK_ERR_REPLICATION_FAILED',
      `target ${link.name}: ${what}: ${describeFailure(full)} — the target pool is full (${pool} on ` +
        `${link.target.where}): free space there or lower its retention`,
    )
    return
  }
  // The connection dropped under a running stream (ssh exits 255), or stages were killed while none failed on its
  // own: a cut transfer. A receive that refused (diverged) makes the others be killed too: not a cut.
  const refused = stages.some((s) => s.signal === null && s.exitCode !== 0 && s.exitCode !== 255)
  const cut = (ssh !== null && stages.length > 1) || (!refused && stages.some((s) => s.signal !== null))
  if (ssh !== null && !cut) {
    report.error(ssh.code, `target ${link.name}: ${what}: ${ssh.message}`)
    return
  }
  const resumes = link.source.caps.resumable && link.target.caps.resumable
  if (cut && !resumes) {
    report.error(
      'BK_ERR_REPLICATION_NOT_RESUMABLE',
      `target ${link.name}: ${what} was cut (${describeFailure(failed)}); this zfs cannot resume a transfer ` +
        `(no \`receive -s\`/\`send -t\` on ${link.source.caps.resumable ? link.target.where : link.source.where}): ` +
        'the next run sends it again from the base',
    )
    return
  }
  report.error(
    'BK_ERR_REPLICATION_FAILED',
    `target ${link.name}: ${what}: ${describeFailure(failed)}` +
      (cut && resumes ? ' — the transfer was cut; the next run resumes it (receive_resume_token)' : ''),
  )
}

/**
 * Every dataset that exists below the target root (creates the root when only it is missing). Without
 * `receive -u` a received dataset would be mounted and its atime changes would diverge it from the source, so on
 * such a CLI the root is created with `mountpoint=none` (inherited by every replica), and an existing mounted root
 * is reported.
 */
export async function prepareTargetRoot(side: ZfsSide, root: string, report: RunReport): Promise<Set<string>> {
  const listing = await listDatasets(side.exec, [root])
  if (listing.missing.length > 0) {
    const noMount = side.caps.receiveNoMount ? [] : ['-o', 'mountpoint=none']
    const mk = await side.exec.run(['zfs', 'create', '-p', ...noMount, root], { timeoutMs: 120_000 })
    if (!succeeded(mk)) {
      throw new Error(`could not create ${root} on ${side.where}: ${describeFailure(mk)}`)
    }
    return new Set([root])
  }
  if (!side.caps.receiveNoMount) {
    const mp = await side.exec.run(['zfs', 'get', '-H', '-o', 'value', 'mountpoint', root], { timeoutMs: 60_000 })
    if (succeeded(mp) && mp.stdout.trim() !== 'none' && mp.stdout.trim() !== '-') {
      report.warnings.push(
        `${root} on ${side.where} is mounted at ${mp.stdout.trim()} and this zfs has no \`receive -u\`: ` +
          `replicas below ` +
          `it are mounted, and a write or atime update there diverges them — \`zfs set mountpoint=none ${root}\``,
      )
    }
  }
  return new Set(listing.datasets)
}

/**
 * Moves the hold from the old base to the new one on both sides: hold first, release after, so a base is
 * pinned at every moment (zrepl's step holds, syncoid --use-hold). Batched; a failed batch is retried per
 * snapshot, and a release of a tag that is not there (first run, base held by hand) is not an error.
 */
export async function moveHolds(
  exec: Exec,
  tag: string,
  hold: readonly string[],
  release: readonly string[],
  report: RunReport,
): Promise<Set<string>> {
  const held = new Set<string>()
  await batchOrEach(
    exec,
    holdArgv(tag, hold),
    hold,
    (s) => holdArgv(tag, [s]),
    (s, ok, stderr) => {
      if (ok || stderr.includes('already exists')) {
        held.add(s)
      } else {
        report.warnings.push(`could not hold ${s} with tag ${tag}: ${stderr.trim()}`)
      }
    },
  )
  await batchOrEach(
    exec,
    releaseArgv(tag, release),
    release,
    (s) => releaseArgv(tag, [s]),
    () => {},
  )
  return held
}

async function batchOrEach(
  exec: Exec,
  batch: string[],
  items: readonly string[],
  one: (s: string) => string[],
  done: (s: string, ok: boolean, stderr: string) => void,
): Promise<void> {
  if (items.length === 0) {
    return
  }
  const r = await exec.run(batch, { timeoutMs: 300_000 })
  if (succeeded(r)) {
    items.forEach((s) => done(s, true, ''))
    return
  }
  for (const s of items) {
    const x = await exec.run(one(s), { timeoutMs: 300_000 })
    done(s, succeeded(x), x.stderr)
  }
}
