import assert from 'node:assert/strict'
import { closeSync, mkdirSync, openSync, statSync, writeFileSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { parseCollectorConfig } from '../../collector/src/config/load.ts'
import { createTokensRepo } from '../../collector/src/auth/tokens.ts'
import { startCollector } from '../../collector/src/main.ts'
import { captureLog } from '../../collector/test/support/harness.ts'
import { agentBin, agentConfig, eventually, getJson, startProc, tempDir, TOKEN } from '../support/processes.ts'

interface CopyView {
  copyId: string
  verification: { state: string; at: string | null; method: string | null; detail: string | null }
  restoreTest: { result: string; commandId: string } | null
}
interface CommandView {
  id: string
  status: string
  resultCode: string | null
  outcome: { result: string; copyId?: string; checks: string[]; error?: { code: string } } | null
}
interface AssetView {
  verdict: string
  reasons: { code: string }[]
  counts: Record<string, number | null>
}

/**
 * reverify-copy and restore-test through the whole chain: operator API → signed command → real agent daemon →
 * real tar on disk → command.result with the outcome → the copy's verification in the ledger → the asset's verdict.
 */
describe(
  'reverify-copy / restore-test end to end (collector in-process, agent binary)',
  { timeout: 3 * 60_000 },
  () => {
    it('a good archive re-verifies and restores; one corrupt byte fails the copy and the 0-errors rule', async (t) => {
      const dir = tempDir(t, 'bk-cmd-check-e2e-')
      const sample = join(dir, 'sample')
      mkdirSync(sample, { recursive: true })
      writeFileSync(join(sample, 'storage.cfg'), 'dir: local\n\tpath /var/lib/vz\n'.repeat(200))
      const c = await startCollector(
        parseCollectorConfig(
          `dataDir: ${dir}/collector\n` +
            'mqtt: {host: 127.0.0.1, port: 0}\napi: {host: 127.0.0.1, port: 0}\n' +
            `enrollment: {tokens: [${TOKEN}]}\n` +
            'ingest: {batchIntervalMs: 2, verifyWorkers: 0}\ntls: {plaintext: true}\n',
          'cmd.yaml',
        ),
        { log: captureLog('warn').log },
      )
      t.after(() => c.stop())
      const cfg = agentConfig(dir, c.mqttUrl, {
        node: 'chk-node',
        jobs: [
          {
            kind: 'archive',
            name: 'pve-config',
            schedule: '0 3 * * *',
            paths: [sample],
            destination: join(dir, 'backups'),
            keepLast: 2,
            media: 'usb',
            offsite: true,
            offline: false,
          },
        ],
        extra: { commands: { allow: ['run-job', 'reverify-copy', 'restore-test'] } },
      })
      const agent = startProc([agentBin, 'run', '--config', cfg], join(dir, 'agent.log'))
      t.after(() => agent.kill9())
      await eventually(
        () => (c.db.prepare("SELECT 1 FROM nodes WHERE node = 'chk-node'").get() ? true : undefined),
        'agent enrolled',
        60_000,
      )
      await agent.waitFor(/agent running/, 30_000)
      await new Promise((r) => setTimeout(r, 1000))

      const api = c.apiUrl
      const token = createTokensRepo(c.db).create('e2e', 'operator', Date.now()).token
      const command = async (body: Record<string, string>): Promise<CommandView> => {
        const res = await fetch(`${api}/api/v1/nodes/chk-node/commands`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
          body: JSON.stringify(body),
        })
        assert.equal(res.status, 202, await res.clone().text())
        const id = ((await res.json()) as { command: { id: string } }).command.id
        return eventually(
          async () => {
            const row = (await getJson<{ command: CommandView }>(`${api}/api/v1/commands/${id}`, token)).command
            return ['succeeded', 'failed', 'rejected'].includes(row.status) ? row : undefined
          },
          `${body.kind} outcome`,
          90_000,
        )
      }
      const copies = async (): Promise<CopyView[]> =>
        (await getJson<{ copies: CopyView[] }>(`${api}/api/v1/copies?node=chk-node`, token)).copies
      const asset = async (): Promise<AssetView> =>
        (
          await getJson<{ asset: AssetView }>(
            `${api}/api/v1/asset?node=chk-node&kind=file-set&id=${encodeURIComponent('fileset:pve-config')}`,
            token,
          )
        ).asset

      assert.equal((await command({ kind: 'run-job', job: 'pve-config' })).status, 'succeeded')
      const [copy] = await eventually(
        async () => ((await copies()).length === 1 ? copies() : undefined),
        'the archive copy in the ledger',
      )
      assert.equal(copy!.verification.state, 'verified')
      const firstAt = copy!.verification.at

      // 1. Re-verify a good archive: succeeded with the outcome, the copy re-stamped.
      const ok = await command({ kind: 'reverify-copy', job: 'pve-config', copyId: copy!.copyId })
      assert.equal(ok.status, 'succeeded', JSON.stringify(ok))
      assert.equal(ok.outcome?.result, 'ok')
      assert.equal(ok.outcome?.copyId, copy!.copyId)
      assert.ok(
        ok.outcome!.checks.some((x) => /matches .*\.sha256/.test(x)),
        JSON.stringify(ok.outcome),
      )
      const reverified = await eventually(
        async () => (await copies()).find((x) => x.verification.method?.startsWith('reverify:')),
        'copy re-verified',
      )
      assert.equal(reverified.verification.state, 'verified')
      assert.ok(reverified.verification.at! >= firstAt!)
      const before = await eventually(async () => {
        const a = await asset()
        return a.counts.verificationErrors === 0 ? a : undefined
      }, 'asset judged')
      assert.ok(!before.reasons.some((r) => r.code === 'verification-errors'), JSON.stringify(before.reasons))

      // 2. Restore test (no copyId: the newest that verifies): succeeded, visible on the command and on the copy.
      const restored = await command({ kind: 'restore-test', job: 'pve-config' })
      assert.equal(restored.status, 'succeeded', JSON.stringify(restored))
      assert.equal(restored.outcome?.copyId, copy!.copyId)
      assert.ok(
        restored.outcome!.checks.some((x) => x.startsWith('tar --diff')),
        JSON.stringify(restored.outcome),
      )
      const withTest = await eventually(
        async () => (await copies()).find((x) => x.restoreTest !== null),
        'restore test on the copy',
      )
      assert.deepEqual([withTest.restoreTest!.result, withTest.restoreTest!.commandId], ['ok', restored.id])

      // 3. Corrupt one byte on disk → re-verify fails → the copy is failed → the 0-errors rule fails for the asset.
      const path = copy!.copyId.slice('archive:'.length)
      const fd = openSync(path, 'r+')
      writeSync(fd, Buffer.from([0x00]), 0, 1, Math.floor(statSync(path).size / 2))
      closeSync(fd)
      const bad = await command({ kind: 'reverify-copy', job: 'pve-config', copyId: copy!.copyId })
      assert.equal(bad.status, 'failed', JSON.stringify(bad))
      assert.equal(bad.resultCode, 'BK_ERR_VERIFY_FAILED')
      assert.equal(bad.outcome?.result, 'failed')
      const failedCopy = await eventually(
        async () => (await copies()).find((x) => x.verification.state === 'failed'),
        'copy marked failed',
      )
      assert.match(failedCopy.verification.detail!, /BK_ERR_VERIFY_FAILED/)
      const after = await eventually(async () => {
        const a = await asset()
        return a.reasons.some((r) => r.code === 'verification-errors') ? a : undefined
      }, 'verdict shows the verification error')
      assert.equal(after.verdict, 'non-compliant')
      assert.equal(after.counts.verificationErrors, 1)

      // 4. A copy id that is not one of the job's copies: failed, coded, and nothing in the ledger changes.
      const unknown = await command({ kind: 'reverify-copy', job: 'pve-config', copyId: 'zfs:tank/data@nope' })
      assert.equal(unknown.status, 'failed')
      assert.equal(unknown.resultCode, 'BK_ERR_COPY_NOT_FOUND')
      assert.equal(unknown.outcome, null)
    })
  },
)
