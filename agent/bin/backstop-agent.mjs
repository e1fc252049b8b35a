#!/usr/bin/env node
// Development launcher: runs the TypeScript entry point through tsx (Node 20 cannot strip types).
// Production uses the single binary from `pnpm --filter @backstop/agent build` (agent/dist/backstop-agent).
import { register } from 'tsx/esm/api'

register()
await import('../src/main.ts')
