#!/usr/bin/env node
// Runs the collector from its TypeScript sources through tsx (Node 20 cannot strip types).
import { register } from 'tsx/esm/api'

register()
const { main } = await import('../src/main.ts')
await main(process.argv)
