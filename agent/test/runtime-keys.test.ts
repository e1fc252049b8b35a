import assert from 'node:assert/strict'
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { isBackstopError, keyPairFromSeed, signBytes, verifyBytes } from '@backstop/shared'
import { keysDir, loadCollectorKey, loadOrCreateNodeKey, saveCollectorKey } from '../src/keys.ts'
import { captureLog, tempDir } from './outbox/support.ts'

describe('node and collector keys', () => {
  it('generates the node key once (0600 in a 0700 dir) and returns the same pair afterwards', async (t) => {
    const state = tempDir(t, 'backstop-keys-')
    const a = await loadOrCreateNodeKey(state)
    const b = await loadOrCreateNodeKey(state)
    assert.deepEqual(a, b)
    assert.ok(verifyBytes('x', signBytes('x', a.secretKey), a.publicKey), 'the pair signs and verifies')
    assert.equal(statSync(keysDir(state)).mode & 0o777, 0o700)
    assert.equal(statSync(join(keysDir(state), 'node.json')).mode & 0o777, 0o600)
  })

  it('two concurrent first starts end up with one identity', async (t) => {
    const state = tempDir(t, 'backstop-keys-')
    const [a, b, c] = await Promise.all([
      loadOrCreateNodeKey(state),
      loadOrCreateNodeKey(state),
      loadOrCreateNodeKey(state),
    ])
    assert.equal(a.publicKey, b.publicKey)
    assert.equal(b.publicKey, c.publicKey)
  })

  it('tightens loose permissions and says so', async (t) => {
    const state = tempDir(t, 'backstop-keys-')
    await loadOrCreateNodeKey(state)
    chmodSync(keysDir(state), 0o755)
    chmodSync(join(keysDir(state), 'node.json'), 0o644)
    const cap = captureLog()
    await loadOrCreateNodeKey(state, cap.log)
    assert.equal(statSync(join(keysDir(state), 'node.json')).mode & 0o777, 0o600)
    assert.equal(statSync(keysDir(state)).mode & 0o777, 0o700)
    assert.equal(cap.lines.filter((l) => l['level'] === 40).length, 2)
  })

  const broken: Array<{ name: string; content: string }> = [
    { name: 'not JSON', content: 'hello' },
    {
      name: 'missing secretKey',
      content: JSON.stringify({ publicKey: keyPairFromSeed(new Uint8Array(32)).publicKey }),
    },
    {
      name: 'public key of another pair',
      content: JSON.stringify({
        ...keyPairFromSeed(new Uint8Array(32)),
        publicKey: keyPairFromSeed(new Uint8Array(32).fill(1)).publicKey,
      }),
    },
  ]
  for (const c of broken) {
    it(`refuses a node key file that is ${c.name}, naming the file`, async (t) => {
      const state = tempDir(t, 'backstop-keys-')
      mkdirSync(keysDir(state), { recursive: true, mode: 0o700 })
      writeFileSync(join(keysDir(state), 'node.json'), c.content, { mode: 0o600 })
      await assert.rejects(
        loadOrCreateNodeKey(state),
        (e) => isBackstopError(e, 'BK_ERR_KEY_FILE_INVALID') && e.message.includes('node.json'),
      )
    })
  }

  it('pins and reloads the collector key; null before enrollment', async (t) => {
    const state = tempDir(t, 'backstop-keys-')
    assert.equal(await loadCollectorKey(state), null)
    const pk = keyPairFromSeed(new Uint8Array(32).fill(9)).publicKey
    await saveCollectorKey(state, pk)
    assert.equal(await loadCollectorKey(state), pk)
    assert.equal(statSync(join(keysDir(state), 'collector.json')).mode & 0o777, 0o600)
    assert.deepEqual(JSON.parse(readFileSync(join(keysDir(state), 'collector.json'), 'utf8')), { publicKey: pk })
    await assert.rejects(saveCollectorKey(state, 'bm90IGEga2V5'), (e) => isBackstopError(e, 'BK_ERR_KEY_FILE_INVALID'))
  })
})
