import assert from 'node:assert/strict'
import { hostname } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { requirePlatform } from '../support/platform.ts'
import { repoRoot } from '../support/processes.ts'
import { waitFor } from '../support/wait-for.ts'
import { fleet, recordedTool } from './support/fleet.ts'

/**
 * A disk that arrives with damage. The test machine has no SMART hardware, so `smartctl` on the agent's PATH is a
 * stand-in that prints REAL recordings from agent/test/fixtures/smartctl/ (see its SOURCE.md): `--scan` prints
 * smartctl_scan_simple.json (seven SCSI disks), and the one disk not skipped, /dev/sdg, answers with
 * smart-scsi.json — a SEAGATE ST4000NM0043 whose SMART status passes with a grown defect list of 56.
 */
const FIXTURES = join(repoRoot, 'agent/test/fixtures/smartctl')
const SERIAL = 'Z1Z5DWJK0000XXXXXXXX'

describe('scenarios: disk health on first sight', { timeout: 120_000 }, () => {
  it('a disk that arrives with damage raises a warning', async (t) => {
    if (!requirePlatform(t, { commands: ['sh', 'cat'] })) {
      return
    }
    const f = await fleet(t)
    const pve1 = f.node('pve1')
    const PATH = recordedTool(
      f.dir,
      'smartctl',
      [
        '# Stand-in for smartctl: prints real recorded outputs (agent/test/fixtures/smartctl/SOURCE.md).',
        `case " $* " in *" --scan "*) exec cat '${FIXTURES}/smartctl_scan_simple.json' ;; esac`,
        `exec cat '${FIXTURES}/smart-scsi.json'`,
      ].join('\n'),
    )
    const skip = ['/dev/sda', '/dev/sdb', '/dev/sdc', '/dev/sdd', '/dev/sde', '/dev/sdf']
    pve1.configure({ health: { smartctl: true, intervalMinutes: 1, skip } }, { PATH })
    await pve1.start()

    const key = `unhealthy-device/pve1/pre-existing-damage/serial:${SERIAL}`
    const alert = await waitFor(async () => (await f.collector.alerts('pve1')).find((a) => a.key === key), {
      what: `the alert ${key}`,
      timeoutMs: 60_000,
    }).catch(async (e: Error) => {
      throw new Error(`${e.message}; alerts: ${JSON.stringify(await f.collector.alerts('pve1'))}`)
    })
    assert.deepEqual([alert.kind, alert.state, alert.severity], ['unhealthy-device', 'firing', 'warning'])
    assert.equal(
      alert.summary,
      `/dev/sdg (SEAGATE ST4000NM0043 ${SERIAL}): pre-existing damage: 56 grown defects; acknowledge to baseline`,
    )
    // The damage is the one thing said (beside the node having no bare-metal image, which it has not).
    const noImage = `firing warning coverage-gap/pve1/host-image/host/${hostname().split('.')[0]}`
    await f.alertsAre([noImage, `firing warning ${key}`], 'a damaged disk on first sight')
    const disks = await f.collector.disks('pve1')
    const sdg = disks.find((d) => JSON.stringify(d).includes(SERIAL))
    assert.ok(sdg !== undefined, JSON.stringify(disks))
    assert.notEqual(sdg['health'], 'ok', `first sight with damage is not ok: ${JSON.stringify(sdg)}`)
  })
})
