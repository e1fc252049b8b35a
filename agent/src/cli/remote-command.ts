import { mkdir, readFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import type { Command } from 'commander'
import { BackstopError } from '@backstop/shared'
import { writeFileDurable } from '@backstop/node-io'
import { describeFailure, succeeded } from '../exec/exec.ts'
import { fingerprintOf, hostMarker, mergeKnownHosts, parseKeyscan, sameFingerprint } from '../remote/known-hosts.ts'
import { quoteWord } from '../remote/ssh.ts'
import { configPath, exitCodes, type SetExit } from './common.ts'
import type { CliDeps } from './deps.ts'
import { addGateFlags, gateRulesOf, type GateFlags } from './remote-gate-command.ts'

interface PinOpts {
  port: string
  knownHosts?: string
  type: string
  fingerprint?: string
}

/**
 * `backstop-agent remote pin <host>` and `remote authorized-key`: the two setup steps of a remote target
 * (docs/remote.md). Pinning is what makes every later ssh call refuse a different host key.
 */
export function registerRemote(program: Command, deps: CliDeps, setExit: SetExit): void {
  const remote = program.command('remote').description('set up ssh targets: pin host keys, print authorized_keys lines')
  remote
    .command('pin')
    .description("fetch a host's ssh key (ssh-keyscan), print its fingerprint, write it to the pinned known_hosts")
    .argument('<host>', 'host name or address, as in the target url')
    .option('-p, --port <port>', 'ssh port', '22')
    .option('--known-hosts <file>', 'the pinned known_hosts (default <stateDir>/ssh/known_hosts of the config)')
    .option('--type <types>', 'key types to pin (ssh-keyscan -t)', 'ed25519')
    .option('--fingerprint <SHA256:…>', 'pin only if the key has this fingerprint (compared before writing)')
    .action(async (host: string, o: PinOpts, cmd: Command) => {
      const file = o.knownHosts ?? join(deps.loadConfig(configPath(cmd)).stateDir, 'ssh', 'known_hosts')
      const port = Number(o.port)
      const exec = deps.createExec(deps.createLog('warn'))
      const argv = ['ssh-keyscan', '-T', '10', '-p', String(port), '-t', o.type, host]
      const r = await exec.run(argv, { timeoutMs: 30_000 })
      const marker = hostMarker(host, port)
      const keys = parseKeyscan(r.stdout).filter((k) => k.marker === marker)
      if (!succeeded(r) || keys.length === 0) {
        throw new BackstopError(
          'BK_ERR_SSH_UNREACHABLE',
          `no ${o.type} host key from ${marker} (${succeeded(r) ? 'ssh-keyscan printed none' : describeFailure(r)}); ` +
            'check the host, the port and that sshd runs there',
        )
      }
      for (const k of keys) {
        deps.io.out(`${marker} ${k.type} ${fingerprintOf(k)}\n`)
      }
      if (o.fingerprint !== undefined && !keys.some((k) => sameFingerprint(fingerprintOf(k), o.fingerprint!))) {
        throw new BackstopError(
          'BK_ERR_SSH_HOST_KEY',
          `${marker} offers ${keys.map(fingerprintOf).join(', ')}, not the expected ${o.fingerprint}; nothing was ` +
            'pinned. Someone may be in between, or the expected fingerprint is of another key',
        )
      }
      const existing = await readFile(file, 'utf8').catch(() => '')
      await mkdir(dirname(file), { recursive: true })
      await writeFileDurable(file, mergeKnownHosts(existing, marker, keys), { mode: 0o644 })
      const compareHint =
        o.fingerprint === undefined
          ? 'Compare the fingerprint with `ssh-keygen -lf /etc/ssh/ssh_host_' +
            o.type.split(',')[0] +
            '_key.pub` run on that host; '
          : ''
      deps.io.out(
        `pinned in ${file}. ${compareHint}` +
          'a different key from now on fails every transfer with BK_ERR_SSH_HOST_KEY\n',
      )
      setExit(exitCodes.ok)
    })
  addGateFlags(
    remote
      .command('authorized-key')
      .description('print the authorized_keys line that lets a peer key run only the Backstop gate')
      .requiredOption('--key <file>', "the sending agent's public key (its identity's .pub)")
      .option('--gate <binary>', 'backstop-agent on the receiving host', '/usr/local/bin/backstop-agent')
      .option('--from <patterns>', 'also restrict the key to these source addresses (authorized_keys from=)'),
  ).action(async (o: GateFlags & { key: string; gate: string; from?: string }) => {
    await gateRulesOf(o) // validates: a line with rules the gate would reject is never printed
    const pub = (await readFile(o.key, 'utf8')).trim().split('\n')[0]!
    if (!/^(ssh-|ecdsa-|sk-)\S+ [A-Za-z0-9+/]+=*( .*)?$/.test(pub)) {
      throw new BackstopError('BK_ERR_CONFIG_INVALID', `--key ${o.key}: not an OpenSSH public key line`)
    }
    const words = [o.gate, 'remote-gate', ...gateArgs(o)]
    const command = words.map(quoteWord).join(' ').replaceAll('\\', '\\\\').replaceAll('"', '\\"')
    const from = o.from === undefined ? '' : `,from="${o.from.replaceAll('"', '')}"`
    deps.io.out(`command="${command}",restrict${from} ${pub}\n`)
    setExit(exitCodes.ok)
  })
}

function gateArgs(f: GateFlags): string[] {
  return [
    ...(f.rules !== undefined ? ['--rules', f.rules] : []),
    ...(f.zfsReceive !== undefined ? ['--zfs-receive', f.zfsReceive] : []),
    ...(f.zfsSend !== undefined ? ['--zfs-send', ...f.zfsSend] : []),
    ...(f.btrfsReceive !== undefined ? ['--btrfs-receive', f.btrfsReceive] : []),
    ...(f.timeout !== undefined ? ['--timeout', f.timeout] : []),
    ...(f.log !== undefined ? ['--log', f.log] : []),
  ]
}
