import type { Exec } from '../../exec/exec.ts'
import type { ZfsCapabilities } from '../../tools/zfs.ts'
import type { RunReport } from '../snapshot-common/report.ts'
import { localSide, remoteSide, type ZfsSide } from './endpoint.ts'
import type { ReplicationLink } from './replicate.ts'
import type { ResolvedSshTarget } from './ssh-config.ts'
import { sshFailureOf } from './ssh-failure.ts'

/** Stream options of a target, checked against what both ends can do. */
export function streamOf(
  t: ResolvedSshTarget,
  source: ZfsSide,
  report: RunReport,
  name: string,
): Pick<ReplicationLink, 'send' | 'throttle'> {
  if (t.raw && !source.caps.rawSend) {
    report.warnings.push(`target ${name}: raw: true, but zfs on ${source.where} has no \`send -w\`; sending normally`)
  }
  return {
    send: { raw: t.raw && source.caps.rawSend, compressed: t.compress && source.caps.compressedSend },
    // pv reads and writes the stream in this process tree: its -q keeps stderr for real errors only.
    throttle: t.bandwidth === null ? null : ['pv', '-q', '-L', t.bandwidth],
  }
}

/**
 * The link from this host to one push target: local source, local or ssh target. An ssh target that cannot be
 * reached (host key changed, refused, timed out) is reported with its code and skipped — it never blocks local
 * snapshots or pruning. Returns null then.
 */
export async function linkTo(
  exec: Exec,
  caps: ZfsCapabilities,
  target: ResolvedSshTarget & { readonly name: string },
  report: RunReport,
): Promise<ReplicationLink | null> {
  const source = localSide(exec, caps)
  let side: ZfsSide = source
  if (target.ssh !== undefined) {
    const remote = await remoteSide(exec, target.ssh)
    side = remote.side
    const failure = sshFailureOf([remote.probe], remote.side)
    if (failure !== null) {
      report.error(failure.code, `target ${target.name}: ${failure.message}; local snapshots and pruning went ahead`)
      return null
    }
  }
  return { local: exec, source, target: side, name: target.name, ...streamOf(target, source, report, target.name) }
}
