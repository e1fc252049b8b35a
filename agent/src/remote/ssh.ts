import type { ErrorCode } from '@backstop/shared'
import type { Exec, ExecOpts, ExecResult, PipelineResult } from '../exec/exec.ts'

/**
 * The shared ssh layer of every remote target (ZFS/Btrfs over ssh, restic over SFTP): the argv that runs a command
 * on another host with its host key pinned, the quoting of that command, and what an ssh failure means. ssh runs
 * through the Exec seam like every other command: argv arrays, never a local shell.
 */
export interface SshEndpoint {
  readonly user: string
  readonly host: string
  readonly port: number
  /** Private key file. */
  readonly identity: string
  /** The pinned known_hosts (`backstop-agent remote pin`): nothing else is trusted (StrictHostKeyChecking=yes). */
  readonly knownHosts: string
  /** ssh -C on the stream. */
  readonly compress?: boolean
  /** Seconds to wait for the TCP connection and the key exchange; default 15. */
  readonly connectTimeoutS?: number
}

/** The gate's exit code and stderr prefix for a refused command (agent/src/remote/gate/gate.ts). */
export const GATE_REFUSED_EXIT = 126
export const GATE_REFUSED_PREFIX = 'backstop-gate: refused:'

/** Characters a word may hold and travel unquoted through the far side's `sh -c`. */
const PLAIN = /^[A-Za-z0-9_@%+=:,./-]+$/

/**
 * One word of the remote command line. ssh joins its arguments with spaces and the far side's shell (or the gate)
 * splits them again, so every word that is not plain goes in single quotes, a quote inside as `'\''`.
 */
export function quoteWord(w: string): string {
  return PLAIN.test(w) ? w : `'${w.replaceAll("'", "'\\''")}'`
}

/** The command line the far side receives (SSH_ORIGINAL_COMMAND under a forced command). */
export function remoteCommandLine(argv: readonly string[]): string {
  return argv.map(quoteWord).join(' ')
}

/** `user@host:port`, for messages. */
export function sshWhere(ssh: SshEndpoint): string {
  return `${ssh.user}@${ssh.host}:${ssh.port}`
}

/** The pinned-key options of every ssh call; ServerAlive ends a stalled transfer within a minute. */
export function sshOptions(ssh: SshEndpoint): string[] {
  const o = (v: string): string[] => ['-o', v]
  return [
    ...['-i', ssh.identity, '-p', String(ssh.port), '-l', ssh.user],
    ...o('StrictHostKeyChecking=yes'),
    ...o(`UserKnownHostsFile=${ssh.knownHosts}`),
    // The system-wide known_hosts must not vouch for a host the operator pinned on their own.
    ...o('GlobalKnownHostsFile=/dev/null'),
    ...o('BatchMode=yes'),
    ...o('IdentitiesOnly=yes'),
    ...o(`ConnectTimeout=${ssh.connectTimeoutS ?? 15}`),
    ...o('ServerAliveInterval=15'),
    ...o('ServerAliveCountMax=4'),
    ...(ssh.compress === true ? ['-C'] : []),
  ]
}

/** `ssh <pinned options> -- host <quoted argv>`: an argv array for the Exec seam; the far side sees a quoted line. */
export function sshCommandArgv(ssh: SshEndpoint, argv: readonly string[]): string[] {
  return ['ssh', ...sshOptions(ssh), '--', ssh.host, remoteCommandLine(argv)]
}

export interface SshFailure {
  readonly code: ErrorCode
  readonly message: string
}

function lastLine(s: string): string {
  return s.trim().split('\n').pop() ?? ''
}

/**
 * What went wrong when ssh itself failed (it exits 255 for its own failures, ssh(1)) or the far side's gate
 * refused; null when the remote command ran and its exit code is its own. The message says how to fix it.
 */
export function sshFailureOf(r: ExecResult, ssh: SshEndpoint): SshFailure | null {
  const where = sshWhere(ssh)
  if (r.exitCode === GATE_REFUSED_EXIT && r.stderr.includes(GATE_REFUSED_PREFIX)) {
    const why = r.stderr.slice(r.stderr.indexOf(GATE_REFUSED_PREFIX) + GATE_REFUSED_PREFIX.length).trim()
    return {
      code: 'BK_ERR_REMOTE_GATE_REFUSED',
      message:
        `the gate on ${where} refused ${why.split('\n')[0]}; widen its rules on that host ` +
        '(`backstop-agent remote authorized-key`) only if the command is meant to run there',
    }
  }
  if (r.exitCode !== 255 || r.signal !== null) {
    return null
  }
  const err = r.stderr
  const hint = `ssh: ${lastLine(err) || 'exit 255'}`
  if (/remote host identification has changed|host key for \S+ has changed/i.test(err)) {
    return {
      code: 'BK_ERR_SSH_HOST_KEY',
      message:
        `the host key of ${where} does not match the pinned one in ${ssh.knownHosts} (${hint}). ` +
        'Nothing was sent. Verify the new key out of band (ssh-keygen -lf on that host), then pin it with ' +
        `\`backstop-agent remote pin ${ssh.host} --port ${ssh.port} --known-hosts ${ssh.knownHosts}\``,
    }
  }
  if (/no \S+ host key is known|host key verification failed/i.test(err)) {
    return {
      code: 'BK_ERR_SSH_HOST_UNKNOWN',
      message:
        `no host key for ${where} is pinned in ${ssh.knownHosts} (${hint}). Pin it with ` +
        `\`backstop-agent remote pin ${ssh.host} --port ${ssh.port} --known-hosts ${ssh.knownHosts}\``,
    }
  }
  if (/permission denied/i.test(err)) {
    return {
      code: 'BK_ERR_SSH_AUTH',
      message:
        `${where} refused the key ${ssh.identity} (${hint}). Add the line printed by ` +
        '`backstop-agent remote authorized-key` to authorized_keys of that user there',
    }
  }
  return {
    code: 'BK_ERR_SSH_UNREACHABLE',
    message: `ssh to ${where} failed (${hint}); check the host, the port and that sshd runs there`,
  }
}

/**
 * An Exec whose every command runs on another host through ssh. Results keep the remote argv, so messages name
 * the command that failed there, not the ssh wrapper.
 */
export class SshExec implements Exec {
  constructor(
    private readonly local: Exec,
    readonly ssh: SshEndpoint,
  ) {}

  async run(argv: readonly string[], opts?: ExecOpts): Promise<ExecResult> {
    const r = await this.local.run(sshCommandArgv(this.ssh, argv), opts)
    return { ...r, argv: [...argv] }
  }

  /** Every stage on the far host, each its own ssh connection. */
  async pipeline(stages: readonly (readonly string[])[], opts?: ExecOpts): Promise<PipelineResult> {
    const p = await this.local.pipeline(
      stages.map((s) => sshCommandArgv(this.ssh, s)),
      opts,
    )
    return { ...p, stages: p.stages.map((s, i) => ({ ...s, argv: [...stages[i]!] })) }
  }
}
