import { spawn } from 'node:child_process'
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs'
import { connect } from 'node:net'
import { join } from 'node:path'
import type { TestContext } from 'node:test'
import { agentBin, freePort, tempDir } from './processes.ts'
import { hasCommand } from './platform.ts'
import { must } from './zfs.ts'
import type { SecondHost } from './netns.ts'

/**
 * A real OpenSSH server from Debian for one test (env-feasibility-wave2.md §1): loopback only, a free port, its own
 * host key, and one user key whose authorized_keys line carries `forcedCommand` (`command="…",restrict`) or none.
 * `knownHosts` pins its host key the way `backstop-agent remote pin` would; `wrongKnownHosts` pins another key.
 * sshd runs in the foreground (-D) as a child of the test and is killed in t.after, also on failure.
 */
export interface TestSshd {
  readonly port: number
  readonly dir: string
  /** Private key of the user allowed in. */
  readonly identity: string
  readonly knownHosts: string
  /** A known_hosts that pins a different host key for the same address (a host that changed or an impostor). */
  readonly wrongKnownHosts: string
  /** The sshd's pid (a test may cut connections by killing the per-connection children, not this one). */
  readonly pid: number
  readonly log: () => string
}

export function sshdReady(): string | null {
  for (const c of ['/usr/sbin/sshd', 'ssh', 'ssh-keygen']) {
    if (!hasCommand(c)) {
      return `${c} is not installed (scripts/setup.sh --test installs openssh-server and openssh-client)`
    }
  }
  return null
}

/** `on`: run it on a second host (a network namespace) and listen on that host's address. */
export async function startSshd(t: TestContext, forcedCommand: string | null, on?: SecondHost): Promise<TestSshd> {
  const address = on?.address ?? '127.0.0.1'
  const dir = tempDir(t, 'bk-sshd-')
  const hostKey = join(dir, 'hostkey')
  const otherKey = join(dir, 'otherkey')
  const identity = join(dir, 'userkey')
  for (const k of [hostKey, otherKey, identity]) {
    must(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-f', k])
  }
  const pub = readFileSync(`${identity}.pub`, 'utf8').trim()
  const opts = forcedCommand === null ? '' : `command="${forcedCommand.replaceAll('"', '\\"')}",restrict `
  writeFileSync(join(dir, 'authorized_keys'), `${opts}${pub}\n`, { mode: 0o600 })
  mkdirSync('/run/sshd', { recursive: true })
  const port = await freePort()
  const config = join(dir, 'sshd_config')
  writeFileSync(
    config,
    [
      `Port ${port}`,
      `ListenAddress ${address}`,
      `HostKey ${hostKey}`,
      `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'PermitRootLogin prohibit-password',
      `PidFile ${join(dir, 'sshd.pid')}`,
      'StrictModes no',
      'UsePAM no',
      // restic's sftp backend asks for the subsystem; a forced command (sftp-server) then runs in its place.
      'Subsystem sftp /usr/lib/openssh/sftp-server',
      // zfs and zpool live in /usr/sbin and /sbin: the forced command runs with sshd's PATH.
      'SetEnv PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      '',
    ].join('\n'),
  )
  const logFile = join(dir, 'sshd.log')
  const sshd = ['/usr/sbin/sshd', '-D', '-f', config, '-E', logFile]
  const [cmd, ...argv] = on ? on.argv(sshd) : sshd
  const child = spawn(cmd!, argv, { stdio: 'ignore' })
  t.after(() => {
    child.kill('SIGTERM')
  })
  await waitForPort(address, port, 10_000)
  const line = (key: string): string => {
    const [type, body] = readFileSync(`${key}.pub`, 'utf8').trim().split(/\s+/)
    return `[${address}]:${port} ${type} ${body}\n`
  }
  const knownHosts = join(dir, 'known_hosts')
  const wrongKnownHosts = join(dir, 'known_hosts.wrong')
  writeFileSync(knownHosts, line(hostKey))
  writeFileSync(wrongKnownHosts, line(otherKey))
  return {
    port,
    dir,
    identity,
    knownHosts,
    wrongKnownHosts,
    pid: child.pid!,
    log: () => {
      try {
        return readFileSync(logFile, 'utf8')
      } catch {
        return ''
      }
    },
  }
}

async function waitForPort(address: string, port: number, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs
  while (Date.now() < until) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, address, () => {
        s.destroy()
        resolve(true)
      })
      s.on('error', () => resolve(false))
    })
    if (ok) {
      return
    }
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`sshd did not listen on ${address}:${port} within ${timeoutMs} ms`)
}

/**
 * The authorized_keys forced command for the agent's gate (`backstop-agent remote-gate <rules>`), run by the
 * agent's own launcher with this node binary, as an operator's authorized_keys line would.
 */
export function gateCommand(rules: readonly string[]): string {
  return [process.execPath, agentBin, 'remote-gate', ...rules].join(' ')
}
