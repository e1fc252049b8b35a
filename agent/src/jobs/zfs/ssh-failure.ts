import type { ErrorCode } from '@backstop/shared'
import type { ExecResult } from '../../exec/exec.ts'
import { sshFailureOf as sshFailureOfResult } from '../../remote/ssh.ts'
import type { ZfsSide } from './endpoint.ts'

/**
 * The ssh failure (remote/ssh.ts: host key, auth, unreachable, gate refused) among the stages of a command or
 * stream that involves a remote side, or null when every failure is the zfs command's own. `pinned` marks the
 * host-key cases: never "retry later", and never mistaken for a cut transfer.
 */
export function sshFailureOf(
  stages: readonly ExecResult[],
  link: { readonly source: ZfsSide; readonly target: ZfsSide } | ZfsSide,
): { code: ErrorCode; message: string; fatal: boolean } | null {
  const sides = 'stage' in link ? [link] : [link.source, link.target]
  const remote = sides.find((s) => s.ssh !== undefined)
  if (remote?.ssh === undefined) {
    return null
  }
  for (const r of stages) {
    const f = sshFailureOfResult(r, remote.ssh)
    if (f !== null) {
      // Only a dropped connection can be a cut transfer; a key, auth or gate refusal is a setup problem.
      return { ...f, fatal: f.code !== 'BK_ERR_SSH_UNREACHABLE' }
    }
  }
  return null
}
