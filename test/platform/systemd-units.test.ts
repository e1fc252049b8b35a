import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it, type TestContext } from 'node:test'
import { requirePlatform } from '../support/platform.ts'
import { agentBin, repoRoot, tempDir } from '../support/processes.ts'

/**
 * `systemd-analyze security` on the shipped units (issue 12: collector <= 2.5, agent <= 5.0), offline, so no running
 * systemd is needed. The agent is also scored with the drop-in `backstop-agent systemd-dropin` generates for a
 * config with every job kind: what rear and vzdump add must keep it within the limit. Directive typos would only
 * warn at boot, so any "Unknown key" or "Failed to parse" line fails the test too.
 */
const unitDir = join(repoRoot, 'deploy', 'systemd')

interface Analysis {
  readonly score: number
  readonly warnings: string[]
}

function analyze(args: readonly string[]): Analysis {
  const r = spawnSync('systemd-analyze', ['security', '--offline=true', '--no-pager', ...args], { encoding: 'utf8' })
  const m = /Overall exposure level for \S+: (\d+\.\d+)/.exec(r.stdout)
  assert.ok(m, `systemd-analyze ${args.join(' ')} printed no overall exposure (exit ${r.status}): ${r.stderr}`)
  const warnings = r.stderr.split('\n').filter((l) => /Unknown key|Failed to parse|ignoring|Invalid/i.test(l))
  return { score: Number(m[1]), warnings }
}

function needsSystemdAnalyze(t: TestContext): boolean {
  return requirePlatform(t, { commands: ['systemd-analyze'] })
}

const allKinds = `node: pve1
collector: {url: "mqtts://collector.lan:8883", enrollmentTokenFile: /etc/backstop/enrollment-token}
jobs:
  - {kind: archive, name: cfg, paths: [/etc], destination: /mnt/usb/config, media: usb}
  - {kind: zfs, name: tank, datasets: [tank/data], media: nvme}
  - {kind: btrfs, name: home, subvolumes: [/mnt/btr/home], snapshotDir: /mnt/btr/.snapshots, media: ssd}
  - {kind: rear, name: rescue, label: REAR-000}
  - {kind: vzdump, name: guests, guests: [100], storage: local, media: ssd}
`

describe('systemd units: systemd-analyze security', () => {
  it('collector unit scores <= 2.5 and parses cleanly', (t) => {
    if (!needsSystemdAnalyze(t)) {
      return
    }
    const a = analyze([join(unitDir, 'backstop-collector.service')])
    t.diagnostic(`backstop-collector.service: ${a.score}`)
    assert.deepEqual(a.warnings, [])
    assert.ok(a.score <= 2.5, `collector exposure ${a.score} > 2.5`)
  })

  it('agent unit scores <= 5.0 alone and with the drop-in generated for every job kind', (t) => {
    if (!needsSystemdAnalyze(t)) {
      return
    }
    const alone = analyze([join(unitDir, 'backstop-agent.service')])
    assert.deepEqual(alone.warnings, [])
    assert.ok(alone.score <= 5.0, `agent exposure ${alone.score} > 5.0`)

    const dir = tempDir(t, 'bk-systemd-')
    const config = join(dir, 'agent.yaml')
    writeFileSync(config, allKinds)
    const gen = spawnSync(process.execPath, [agentBin, 'systemd-dropin', '--config', config], { encoding: 'utf8' })
    assert.equal(gen.status, 0, gen.stderr)
    const root = join(dir, 'root')
    const units = join(root, 'etc', 'systemd', 'system')
    mkdirSync(join(units, 'backstop-agent.service.d'), { recursive: true })
    copyFileSync(join(unitDir, 'backstop-agent.service'), join(units, 'backstop-agent.service'))
    writeFileSync(join(units, 'backstop-agent.service.d', '50-paths.conf'), gen.stdout)
    const withDropIn = analyze([`--root=${root}`, 'backstop-agent.service'])
    t.diagnostic(`backstop-agent.service: ${alone.score} alone, ${withDropIn.score} with the all-kinds drop-in`)
    assert.deepEqual(withDropIn.warnings, [], gen.stdout)
    assert.ok(withDropIn.score > alone.score, 'the drop-in was not read (its score equals the bare unit)')
    assert.ok(withDropIn.score <= 5.0, `agent exposure with the drop-in ${withDropIn.score} > 5.0:\n${gen.stdout}`)
  })

  it('both units create files 0600 (UMask=0077) and keep the collector free of capabilities', () => {
    const collector = readFileSync(join(unitDir, 'backstop-collector.service'), 'utf8')
    const agent = readFileSync(join(unitDir, 'backstop-agent.service'), 'utf8')
    for (const unit of [collector, agent]) {
      assert.match(unit, /^UMask=0077$/m)
      assert.match(unit, /^ProtectSystem=strict$/m)
    }
    // btrfs receive and the restore test must recreate setuid files as backed up; RestrictSUIDSGID refuses that.
    assert.doesNotMatch(agent, /^RestrictSUIDSGID=yes$/m)
    assert.match(collector, /^CapabilityBoundingSet=$/m)
    assert.match(collector, /^User=backstop$/m)
  })
})
