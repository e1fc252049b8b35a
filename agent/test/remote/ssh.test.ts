import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import type { ExecResult } from '../../src/exec/exec.ts'
import { splitCommandLine } from '../../src/remote/gate/split-command.ts'
import {
  GATE_REFUSED_EXIT,
  GATE_REFUSED_PREFIX,
  quoteWord,
  remoteCommandLine,
  sshCommandArgv,
  sshFailureOf,
  type SshEndpoint,
} from '../../src/remote/ssh.ts'

const fixture = (name: string): string => readFileSync(join(import.meta.dirname, '..', 'fixtures', 'ssh', name), 'utf8')
const nas: SshEndpoint = {
  user: 'backstop',
  host: 'nas.example',
  port: 2222,
  identity: '/etc/backstop/ssh/id_ed25519',
  knownHosts: '/var/lib/backstop-agent/ssh/known_hosts',
}
const result = (exitCode: number, stderr: string): ExecResult => ({
  argv: ['btrfs', 'receive', '/srv/replicas'],
  exitCode,
  signal: null,
  stdout: '',
  stderr,
  durationMs: 5,
  truncated: false,
})

test('the ssh argv pins the host key, never prompts, and passes the remote command as one quoted line', () => {
  const argv = sshCommandArgv(nas, ['btrfs', 'receive', "/srv/it's here"])
  assert.equal(argv[0], 'ssh')
  for (const o of [
    'StrictHostKeyChecking=yes',
    `UserKnownHostsFile=${nas.knownHosts}`,
    'GlobalKnownHostsFile=/dev/null',
    'BatchMode=yes',
    'IdentitiesOnly=yes',
    'ConnectTimeout=15',
    'ServerAliveInterval=15',
  ]) {
    assert.ok(argv.includes(o), `${o} in ${argv.join(' ')}`)
  }
  assert.deepEqual(argv.slice(1, 7), ['-i', nas.identity, '-p', '2222', '-l', 'backstop'])
  assert.deepEqual(argv.slice(-3), ['--', 'nas.example', "btrfs receive '/srv/it'\\''s here'"])
  assert.ok(!argv.includes('-C'), 'no compression unless asked')
  assert.ok(sshCommandArgv({ ...nas, compress: true }, ['true']).includes('-C'))
})

test('quoting round-trips through the gate splitter, hostile words stay single words', () => {
  const words = [
    'btrfs',
    '/srv/replicas/a b',
    'x; rm -rf /',
    '$(reboot)',
    '`id`',
    "it's",
    "''",
    'a|b&c>d<e',
    '*',
    '',
    'tank/data@backstop_20261110T000000Z_hdwmy',
  ]
  const line = remoteCommandLine(words)
  assert.deepEqual(splitCommandLine(line), { argv: words })
  assert.equal(quoteWord('tank/data@snap'), 'tank/data@snap', 'plain words travel unquoted')
})

test('the splitter refuses what only a shell could read, instead of guessing', () => {
  for (const [line, why] of [
    ['btrfs receive /srv; rm -rf /', /";" at column 19/],
    ['btrfs receive $(id)', /"\$"/],
    ['btrfs receive `id`', /"`"/],
    ['btrfs receive "/srv"', /"\\""/],
    ['btrfs receive /srv > /etc/passwd', /">"/],
    ['btrfs receive /srv\nreboot', /"\\n"/],
    ["btrfs receive '/srv", /unterminated single quote/],
    ['btrfs receive /srv/*', /"\*"/],
    ['', /empty command/],
    ['   ', /empty command/],
  ] as const) {
    const r = splitCommandLine(line)
    assert.ok('reason' in r, `${JSON.stringify(line)} must be refused`)
    assert.match(r.reason, why)
  }
})

test('ssh failures from recorded OpenSSH 9.2 stderr map to coded errors that say how to fix them', () => {
  const changed = sshFailureOf(result(255, fixture('host-key-changed.stderr.txt')), nas)
  assert.equal(changed?.code, 'BK_ERR_SSH_HOST_KEY')
  assert.match(changed!.message, /host key of backstop@nas\.example:2222 does not match the pinned one/)
  assert.match(changed!.message, /backstop-agent remote pin nas\.example --port 2222 --known-hosts/)
  const unknown = sshFailureOf(result(255, fixture('host-key-unknown.stderr.txt')), nas)
  assert.equal(unknown?.code, 'BK_ERR_SSH_HOST_UNKNOWN')
  assert.match(unknown!.message, /no host key for backstop@nas\.example:2222 is pinned/)
  const denied = sshFailureOf(result(255, fixture('auth-denied.stderr.txt')), nas)
  assert.equal(denied?.code, 'BK_ERR_SSH_AUTH')
  assert.match(denied!.message, /remote authorized-key/)
  for (const f of ['connection-refused.stderr.txt', 'name-unresolved.stderr.txt']) {
    const r = sshFailureOf(result(255, fixture(f)), nas)
    assert.equal(r?.code, 'BK_ERR_SSH_UNREACHABLE', f)
    assert.match(r!.message, /ssh to backstop@nas\.example:2222 failed \(ssh: ssh: (connect|Could not)/)
  }
  const gate = sshFailureOf(
    result(GATE_REFUSED_EXIT, `${GATE_REFUSED_PREFIX} btrfs subvolume delete /srv/x: not allowed\n`),
    nas,
  )
  assert.equal(gate?.code, 'BK_ERR_REMOTE_GATE_REFUSED')
  assert.match(gate!.message, /the gate on backstop@nas\.example:2222 refused btrfs subvolume delete/)
  assert.equal(sshFailureOf(result(1, 'ERROR: cannot find parent subvolume\n'), nas), null, 'the command’s own')
  assert.equal(sshFailureOf(result(0, ''), nas), null)
})
