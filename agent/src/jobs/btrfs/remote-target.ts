import { BackstopError, type Location } from '@backstop/shared'
import { describeFailure, succeeded, type Exec, type ExecOpts, type ExecResult } from '../../exec/exec.ts'
import { SshExec, sshCommandArgv, sshFailureOf, sshWhere, type SshEndpoint } from '../../remote/ssh.ts'
import { classifyBtrfsError, findmntArgv, listArgv, receiveArgv, sendArgv } from '../../tools/btrfs.ts'
import { parseFindmnt, parseSubvolumeList, type BtrfsSubvolume, type MountInfo } from '../../tools/btrfs-parse.ts'
import type { RunReport } from '../snapshot-common/report.ts'
import type { ResolvedBtrfsJob, ResolvedBtrfsTarget } from './config.ts'
import { planCatchUp } from './catch-up.ts'
import { absolutePath, btrfsMountOf, fsLocation, type FsView } from './fs.ts'
import { btrfsCopy, btrfsDeleted, newestHeldIn, ownedIn } from './snapshots.ts'
import { vanishedRule } from '../snapshot-common/reported-replicas.ts'
import { notDue } from '../snapshot-common/window.ts'
import type { BtrfsRunMemory } from './state.ts'
import type { BtrfsSource } from './source.ts'

/** An ssh or gate failure, carried out of the listing so the target is reported once with its code. */
class RemoteFailure extends Error {
  constructor(
    readonly code: ConstructorParameters<typeof BackstopError>[0],
    message: string,
  ) {
    super(message)
  }
}

/**
 * A btrfs target on another host: `btrfs send [-p parent] | [pv -L rate |] ssh … btrfs receive <dir>`, every
 * command there through ssh (pinned host key) and that host's forced-command gate, which allows only receive and
 * the listing below its prefix. Like the local target: all missing snapshots in order, the common parent found by
 * received_uuid, replicas read-only. Unlike it: the sender never deletes there (the gate would refuse; the receiving
 * host keeps its own retention), a cut receive is removed by the receiving gate and sent again from the start next
 * run (btrfs sends cannot resume), and an unreachable host is one coded error — local snapshots and pruning go on.
 */
export async function processRemoteBtrfsTarget(
  exec: Exec,
  cfg: ResolvedBtrfsJob,
  target: ResolvedBtrfsTarget & { readonly ssh: SshEndpoint },
  src: BtrfsSource,
  { state, reported }: BtrfsRunMemory,
  now: Date,
  report: RunReport,
  dryRun: boolean,
  signal: AbortSignal,
): Promise<void> {
  const ssh = target.ssh
  const remote = new SshExec(exec, ssh)
  const name = `target ${target.name} (${sshWhere(ssh)}:${target.path})`
  try {
    let tfs = await remoteView(remote, target)
    const due = !notDue(target, newestHeldIn(tfs, target.path, cfg.prefix, src.owned.keys()), now)
    const limits = { timeoutMs: cfg.timeoutMs, signal }
    if (!dryRun && due && (await sendAll(exec, target, src, tfs, report, name, limits))) {
      tfs = await remoteView(remote, target)
    }
    const bases = (state.bases[target.name] ??= {})
    const location: Location = { ...fsLocation(tfs.mount), target: `${ssh.host}:${tfs.mount.target}` }
    for (const [sub, local] of src.owned) {
      const replicas = ownedIn(tfs, target.path, cfg.prefix, sub)
      const received = new Set(replicas.map((r) => r.sv.receivedUuid))
      const base = [...local].reverse().find((o) => received.has(o.sv.uuid))
      if (base !== undefined && !dryRun) {
        bases[sub] = base.name
      }
      const localUuids = new Set(local.map((o) => o.sv.uuid))
      for (const r of replicas) {
        report.lines.push({
          location: `${target.name}:${ssh.host}:${target.path}`,
          name: r.name,
          createdAt: r.parsed.createdAt.toISOString(),
          action: 'keep',
          reasons: ["the receiving host's retention (its gate refuses deletes from senders)"],
        })
        const ok = r.readonly && r.sv.receivedUuid !== null
        const known = ok && localUuids.has(r.sv.receivedUuid!)
        report.copies.push({
          ...btrfsCopy(r, src.assets.get(sub)!, location, target, {
            state: known ? 'verified' : ok ? 'unverified' : 'failed',
            ...(known || !ok ? { at: now.toISOString() } : {}),
            method: 'btrfs-received-uuid',
            detail: ok
              ? `read-only on ${ssh.host}; received_uuid ${r.sv.receivedUuid}` +
                (known ? " is the local snapshot's uuid" : ' (the local snapshot is gone, nothing to compare)')
              : `writable on ${ssh.host}: it may have been changed since it was received`,
          }),
          // The same path may exist on this host: a replica over there is named with its host.
          copyId: remoteCopyId(ssh, r.path),
        })
      }
      const vanished = reported.vanished(
        target.name,
        sub,
        replicas.map((r) => r.path),
      )
      for (const path of dryRun ? [] : vanished) {
        const rule = vanishedRule(target.name, sshWhere(ssh))
        report.deleted.push({
          ...btrfsDeleted(path, src.assets.get(sub)!, location, now, rule),
          copyId: remoteCopyId(ssh, path),
        })
      }
    }
  } catch (e) {
    if (e instanceof RemoteFailure) {
      report.error(e.code, `${name}: ${e.message}; local snapshots and pruning went ahead`)
      return
    }
    report.caught(e, 'BK_ERR_REPLICATION_FAILED')
  }
}

const remoteCopyId = (ssh: SshEndpoint, path: string): string => `btrfs:${ssh.host}:${path}`

function failureOf(r: ExecResult, ssh: SshEndpoint): RemoteFailure | null {
  const f = sshFailureOf(r, ssh)
  return f === null ? null : new RemoteFailure(f.code, f.message)
}

/**
 * The receiving directory's filesystem as seen from here: the remote mount (findmnt through the gate) and its
 * subvolumes mapped to absolute paths there. A directory not created yet (first run) is an empty view.
 */
async function remoteView(remote: SshExec, target: ResolvedBtrfsTarget): Promise<FsView> {
  const ssh = remote.ssh
  const m = await remote.run([...findmntArgv], { timeoutMs: 60_000 })
  const failure = failureOf(m, ssh)
  if (failure !== null) {
    throw failure
  }
  if (!succeeded(m)) {
    throw new BackstopError('BK_ERR_REPLICATION_FAILED', `on ${ssh.host}: ${describeFailure(m)}`)
  }
  const mounts: MountInfo[] = parseFindmnt(m.stdout)
  const mount = btrfsMountOf(mounts, target.path)
  if (mount === null) {
    throw new RemoteFailure(
      'BK_ERR_REPLICATION_FAILED',
      `${target.path} is not on a mounted btrfs filesystem on ${ssh.host} — mount it there or fix the url`,
    )
  }
  const list = async (ro: boolean): Promise<BtrfsSubvolume[]> => {
    const r = await remote.run(listArgv(target.path, ro), { timeoutMs: 300_000, maxOutputBytes: 256 * 1024 * 1024 })
    const failure = failureOf(r, ssh)
    if (failure !== null) {
      throw failure
    }
    if (!succeeded(r)) {
      if (/No such file or directory|cannot access/.test(r.stderr)) {
        return []
      }
      throw new BackstopError('BK_ERR_REPLICATION_FAILED', `on ${ssh.host}: ${describeFailure(r)}`)
    }
    return parseSubvolumeList(r.stdout)
  }
  const byPath = new Map<string, BtrfsSubvolume>()
  for (const sv of await list(false)) {
    const abs = absolutePath(mount, sv.path)
    if (abs !== null) {
      byPath.set(abs, sv)
    }
  }
  return { mount, byPath, readonlyUuids: new Set((await list(true)).map((s) => s.uuid)) }
}

/**
 * Every snapshot the target is missing, per subvolume oldest first, each incremental on the one before. The first
 * failure stops that subvolume's catch-up (never a later snapshot without the earlier ones); a cut one is removed
 * by the receiving gate, so the next run sends it again from the same parent. True when anything arrived.
 */
async function sendAll(
  exec: Exec,
  target: ResolvedBtrfsTarget & { readonly ssh: SshEndpoint },
  src: BtrfsSource,
  tfs: FsView,
  report: RunReport,
  name: string,
  limits: Required<Pick<ExecOpts, 'timeoutMs' | 'signal'>>,
): Promise<boolean> {
  let any = false
  const received = new Set([...tfs.byPath.values()].map((sv) => sv.receivedUuid).filter((u) => u !== null))
  for (const local of src.owned.values()) {
    for (const { snap, parent } of planCatchUp(local, received)) {
      const p = await exec.pipeline(
        [
          sendArgv(snap.path, parent?.path ?? null),
          ...(target.bandwidth === null ? [] : [['pv', '-q', '-L', target.bandwidth]]),
          sshCommandArgv(target.ssh, receiveArgv(target.path)),
        ],
        limits,
      )
      const failed = p.stages.find((s) => !succeeded(s))
      if (failed !== undefined) {
        // ssh's own failure (connection cut, host key) or the gate's refusal says more than the send's EPIPE.
        const ssh = sshFailureOf(p.stages.at(-1)!, target.ssh)
        const full = p.stages.some((s) => classifyBtrfsError(s.stderr) === 'no-space')
        report.error(
          ssh?.code ?? 'BK_ERR_REPLICATION_FAILED',
          `${name}: ${snap.path}: ${ssh?.message ?? describeFailure(failed)}` +
            (full ? ' — the target filesystem is full: free space there or lower its retention' : ''),
        )
        report.warnings.push(
          `${name}: btrfs sends cannot resume; the receiving host removed the partial ${snap.name} and the next ` +
            `run sends it again from the start (${parent === null ? 'in full' : `incremental on ${parent.name}`})`,
        )
        break
      }
      report.bytes += p.bytesPiped
      received.add(snap.sv.uuid)
      any = true
    }
  }
  return any
}
