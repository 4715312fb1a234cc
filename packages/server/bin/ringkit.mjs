#!/usr/bin/env node
// The compiled CLI on plain Node. Inside the RingKit repository `npm start` runs the TypeScript
// source instead; `npm run build` makes this file work there too.
await import('../dist/cli/main.js')
