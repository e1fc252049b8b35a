import type { Exec, ExecResult } from '../../exec/exec.ts'
import { minimalZfsCapabilities, parseZfsUsage, type ZfsCapabilities } from '../../tools/zfs.ts'
import { SshExec, sshCommandArgv, sshWhere, type SshEndpoint } from '../../remote/ssh.ts'

/**
 * One end of a ZFS replication: this host, or another one reached over ssh. Every zfs/zpool command of that end
 * runs through `exec` (ssh-wrapped for a remote end, so listing, holds and receive share one code path), and a
 * pipeline stage runs there through `stage`. The remote end sees a plain `zfs …` command line, which its
 * forced-command gate (agent/src/remote/gate/zfs-rules.ts) checks before it runs.
 */
export interface ZfsSide {
  readonly exec: Exec
  readonly caps: ZfsCapabilities
  /** argv that runs `argv` on this side, as one stage of a local pipeline. */
  readonly stage: (argv: readonly string[]) => string[]
  /** `local`, or `user@host:port` for messages. */
  readonly where: string
  /** The ssh endpoint of a remote side; undefined for this host. */
  readonly ssh?: SshEndpoint
}

export function localSide(exec: Exec, caps: ZfsCapabilities): ZfsSide {
  return { exec, caps, stage: (argv) => [...argv], where: 'local' }
}

/**
 * A remote side: its capabilities are read once over the same ssh settings (the `zfs` usage text). `probe` is that
 * first command: an ssh failure there (host key, unreachable) is reported before anything else is tried.
 */
export async function remoteSide(local: Exec, ssh: SshEndpoint): Promise<{ side: ZfsSide; probe: ExecResult }> {
  const exec = new SshExec(local, ssh)
  const probe = await exec.run(['zfs'], { timeoutMs: 60_000 })
  const text = `${probe.stdout}\n${probe.stderr}`
  const side: ZfsSide = {
    exec,
    caps: text.includes('usage:') ? parseZfsUsage(text) : minimalZfsCapabilities,
    stage: (argv) => sshCommandArgv(ssh, argv),
    where: sshWhere(ssh),
    ssh,
  }
  return { side, probe }
}
