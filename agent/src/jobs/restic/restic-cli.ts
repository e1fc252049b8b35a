import { readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { BackstopError } from '@backstop/shared'
import { succeeded, type Exec, type ExecOpts, type ExecResult } from '../../exec/exec.ts'
import type { ResolvedResticJob } from './config.ts'
import { classifyFailure, parseResticVersion, type ResticVersion } from './parse.ts'
import { sshFailureOf, sshOptions, type SshEndpoint } from '../../remote/ssh.ts'

/**
 * One repository as the agent talks to it: every call is `restic <args>` through the Exec seam with the repository
 * in RESTIC_REPOSITORY (so REST credentials in the URL never appear in a logged argv), the password from a 0600
 * file, and a cache inside the job's state directory (the agent runs without HOME).
 */
export class ResticRepo {
  private constructor(
    private readonly exec: Exec,
    readonly display: string,
    readonly version: ResticVersion | null,
    private readonly base: readonly string[],
    /** restic's environment (the envFile's lines): the S3 object-lock probe acts with the same credentials. */
    readonly env: Readonly<Record<string, string>>,
    private readonly ssh: SshEndpoint | undefined,
  ) {}

  static async open(
    exec: Exec,
    cfg: ResolvedResticJob,
    stateDir: string,
    environ: Readonly<Record<string, string | undefined>> = process.env,
  ): Promise<ResticRepo> {
    const where = `jobs.${cfg.name}`
    const passwordFile = await passwordFileOf(cfg, where, environ)
    await requirePrivate(passwordFile, `${where}.password`)
    const extra = cfg.repository.envFile === undefined ? {} : await readEnvFile(cfg.repository.envFile, where)
    const env = { ...extra, RESTIC_REPOSITORY: cfg.repository.url, RESTIC_PROGRESS_FPS: '1' }
    const v = await exec.run(['restic', 'version'], { timeoutMs: 30_000, env })
    const base = [
      'restic',
      '--password-file',
      passwordFile,
      '--cache-dir',
      join(stateDir, 'restic-cache'),
      ...(cfg.repository.ssh ? ['-o', `sftp.command=${sftpCommand(cfg.repository.ssh)}`] : []),
      // Both ways: prune and check read the repository over the same link the backup writes it over.
      ...(cfg.limitKiBps === null
        ? []
        : ['--limit-upload', `${cfg.limitKiBps}`, '--limit-download', `${cfg.limitKiBps}`]),
    ]
    const version = succeeded(v) ? parseResticVersion(v.stdout) : null
    return new ResticRepo(exec, cfg.repository.display, version, base, env, cfg.repository.ssh)
  }

  run(args: readonly string[], opts: ExecOpts = {}): Promise<ExecResult> {
    return this.exec.run([...this.base, ...args], { ...opts, env: { ...this.env, ...opts.env } })
  }

  /** Runs and throws the coded failure (password, lock, unreachable, no repository) naming the repository. */
  async must(args: readonly string[], what: string, opts: ExecOpts = {}): Promise<ExecResult> {
    const r = await this.run(args, opts)
    if (!succeeded(r)) {
      throw await this.failure(r, what)
    }
    return r
  }

  /**
   * The coded error of a failed restic command. For sftp, restic copies ssh's stderr ("subprocess ssh: …") but may
   * exit before it did (recorded: 1 run in 3), so when the sftp session did not start the agent asks ssh itself,
   * with the same pinned options: a changed host key, an unknown host or a refused key is the ssh layer's error.
   */
  async failure(r: ExecResult, what: string): Promise<BackstopError> {
    const ssh = this.ssh && SFTP_SESSION_FAILED.test(r.stderr) ? await this.sshDiagnosis(r) : null
    if (ssh !== null) {
      return new BackstopError(ssh.code, `${what} on ${this.display}: ${ssh.message}`)
    }
    const { code, why } = classifyFailure(this.version, r.exitCode, r.stderr)
    return new BackstopError(code, `${what} on ${this.display}: ${why}${hintOf(code)}`)
  }

  private async sshDiagnosis(r: ExecResult): Promise<ReturnType<typeof sshFailureOf>> {
    const ssh = this.ssh!
    const fromRestic = sshFailureOf({ ...r, exitCode: 255, signal: null }, ssh)
    if (/subprocess ssh:/.test(r.stderr) && fromRestic !== null && fromRestic.code !== 'BK_ERR_SSH_UNREACHABLE') {
      return fromRestic
    }
    // An empty stdin ends the sftp session at once: only the login and the host key are tested.
    const probe = await this.exec.run(['ssh', ...sshOptions(ssh), '-s', '--', ssh.host, 'sftp'], {
      timeoutMs: 60_000,
      stdin: '',
    })
    return sshFailureOf(probe, ssh)
  }
}

const SFTP_SESSION_FAILED = /unable to start the sftp session|subprocess ssh:/

/**
 * restic's sftp.command: ssh with the shared layer's pinned options, asking for the sftp subsystem. restic splits
 * the string at spaces, so the config refuses whitespace in the key and known_hosts paths.
 */
export function sftpCommand(ssh: SshEndpoint): string {
  return ['ssh', ...sshOptions(ssh), '-s', '--', ssh.host, 'sftp'].join(' ')
}

function hintOf(code: string): string {
  switch (code) {
    case 'BK_ERR_REPO_PASSWORD':
      return ' (check the password file or credential configured for this job)'
    case 'BK_ERR_REPO_LOCKED':
      return ' (another restic is running; a stale lock of a dead process can be removed with `restic unlock`)'
    case 'BK_ERR_REPO_UNREACHABLE':
      return ' (the repository host is down or not reachable from here; nothing was changed locally)'
    case 'BK_ERR_REPO_NOT_FOUND':
      return ' (initialise it once with `restic init` using the same URL and password)'
    default:
      return ''
  }
}

async function passwordFileOf(
  cfg: ResolvedResticJob,
  where: string,
  environ: Readonly<Record<string, string | undefined>>,
): Promise<string> {
  if ('file' in cfg.password) {
    return cfg.password.file
  }
  const dir = environ['CREDENTIALS_DIRECTORY']
  if (dir === undefined || dir === '') {
    throw new BackstopError(
      'BK_ERR_CONFIG_INVALID',
      `${where}.password.credential "${cfg.password.credential}": $CREDENTIALS_DIRECTORY is not set — add ` +
        `LoadCredential=${cfg.password.credential}:<file> to the agent's systemd unit, or use password.file`,
    )
  }
  return join(dir, cfg.password.credential)
}

/** Refuses a secret file that group or others may read or write (ssh's rule for private keys). */
export async function requirePrivate(file: string, field: string): Promise<void> {
  let mode: number
  try {
    mode = (await stat(file)).mode
  } catch (e) {
    throw new BackstopError('BK_ERR_CONFIG_INVALID', `${field}: cannot read ${file}: ${(e as Error).message}`)
  }
  if ((mode & 0o077) !== 0) {
    const octal = (mode & 0o777).toString(8).padStart(4, '0')
    throw new BackstopError(
      'BK_ERR_SECRET_FILE_MODE',
      `${field}: ${file} has mode ${octal}; run \`chmod 600 ${file}\` (only its owner may read it)`,
    )
  }
}

/** `KEY=value` lines (blank lines and `#` comments skipped) from a 0600 file. */
async function readEnvFile(file: string, where: string): Promise<Record<string, string>> {
  await requirePrivate(file, `${where}.repository.envFile`)
  const env: Record<string, string> = {}
  for (const [i, raw] of (await readFile(file, 'utf8')).split('\n').entries()) {
    const line = raw.trim()
    if (line === '' || line.startsWith('#')) {
      continue
    }
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line)
    if (!m) {
      throw new BackstopError(
        'BK_ERR_CONFIG_INVALID',
        `${where}.repository.envFile: ${file}:${i + 1} is not KEY=value; fix that line`,
      )
    }
    env[m[1]!] = m[2]!
  }
  return env
}
