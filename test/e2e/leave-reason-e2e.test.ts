import assert from 'node:assert/strict'
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { agentBin, agentConfig, collectorSetup, getJson, repoRoot, startProc, tempDir } from '../support/processes.ts'
import { waitFor } from '../support/wait-for.ts'

interface NodeView {
  status: string
  statusAt: string | null
  statusReason: string | null
  heartbeatAt: string | null
}
interface AlertView {
  kind: string
  state: string
  severity: string
  summary: string
}

const DOWN_AFTER_S = 3

/**
 * A stand-in `systemctl` first on the agent's PATH that answers `list-jobs` with a recorded-format answer
 * (agent/test/fixtures/systemd): what systemd prints while it restarts or stops the unit. Anything else fails.
 */
function fakeSystemctl(dir: string, fixture: string): string {
  const bin = join(dir, `systemctl-${fixture}`)
  mkdirSync(bin, { recursive: true })
  const recorded = JSON.parse(
    readFileSync(join(repoRoot, 'agent/test/fixtures/systemd', `${fixture}.json`), 'utf8'),
  ) as { stdout: string }
  writeFileSync(join(bin, 'answer.txt'), recorded.stdout)
  const script = `#!/bin/sh\n[ "$1" = list-jobs ] || exit 1\nexec cat "${join(bin, 'answer.txt')}"\n`
  writeFileSync(join(bin, 'systemctl'), script)
  chmodSync(join(bin, 'systemctl'), 0o755)
  return bin
}

describe('the reason of a graceful stop, as the operator sees it', { timeout: 120_000 }, () => {
  it('systemd restarting the unit shows restart, stopping it shows shutdown; node-down names the reason', async (t) => {
    const dir = tempDir(t)
    const c = await collectorSetup(dir, { ledger: { nodeDownAfterS: DOWN_AFTER_S } })
    const collector = await c.start()
    const token = await c.apiToken('viewer')
    const procs = [
      { name: 'upgraded', fixture: 'list-jobs-restart' },
      { name: 'retired', fixture: 'list-jobs-stop' },
    ].map(({ name, fixture }) => {
      const path = `${fakeSystemctl(dir, fixture)}:${process.env['PATH'] ?? ''}`
      const cfg = agentConfig(dir, c.mqttUrl, { node: name })
      return { name, proc: startProc([agentBin, 'run', '--config', cfg], join(dir, `${name}.log`), { PATH: path }) }
    })
    t.after(async () => {
      for (const p of procs) {
        await p.proc.kill9()
      }
      await collector.kill9()
    })
    const node = (n: string): Promise<NodeView> => getJson<NodeView>(`${c.apiUrl}/api/v1/nodes/${n}`, token)
    // Online and heartbeating as an enrolled node (a stop right after enrollment once left no offline status).
    for (const p of procs) {
      await waitFor(
        async () => {
          const v = await node(p.name)
          return v.status === 'online' && v.heartbeatAt !== null
        },
        { what: `${p.name} online with a heartbeat`, timeoutMs: 60_000 },
      )
    }
    for (const p of procs) {
      assert.equal(await p.proc.stop(), 0, p.proc.output())
    }
    const offline = (n: string): Promise<NodeView> =>
      waitFor(
        async () => {
          const v = await node(n)
          return v.status === 'offline' ? v : undefined
        },
        { what: `${n} offline` },
      )
    assert.equal((await offline('upgraded')).statusReason, 'restart')
    assert.equal((await offline('retired')).statusReason, 'shutdown')

    // Neither came back within nodeDownAfterS: a warning (stopped on purpose) that says which stop it was.
    const down = (n: string): Promise<AlertView> =>
      waitFor(
        async () =>
          (
            await getJson<{ alerts: AlertView[] }>(`${c.apiUrl}/api/v1/alerts?node=${n}&kind=node-down`, token)
          ).alerts.find((a) => a.state === 'firing'),
        { what: `node-down of ${n}`, timeoutMs: (DOWN_AFTER_S + 30) * 1000 },
      )
    const upgraded = await down('upgraded')
    assert.equal(upgraded.severity, 'warning')
    assert.match(upgraded.summary, /stopped on purpose \(restart\)/)
    const retired = await down('retired')
    assert.equal(retired.severity, 'warning')
    assert.match(retired.summary, /stopped on purpose \(shutdown\)/)
  })
})
