// One ES module for pages that embed RingKit without a bundler: the client SDK and the UI kit.
export * from '@ringkit/client'
export * from './index.ts'
