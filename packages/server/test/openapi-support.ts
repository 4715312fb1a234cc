import { readFileSync } from 'node:fs'
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js'

/** The parts of an OpenAPI 3.1 document these tests read. */
export interface OpenApiDoc {
  openapi: string
  paths: Record<string, Record<string, Operation>>
  components: { schemas: Record<string, object>; securitySchemes: Record<string, object> }
}
export interface Operation {
  operationId: string
  security: Record<string, string[]>[]
  parameters?: { name: string; in: 'path' | 'query'; required: boolean; schema: object }[]
  requestBody?: { required: boolean; content: Record<string, { schema: object }> }
  responses: Record<string, { description: string; content?: Record<string, { schema: object }> }>
}

const DOC_ID = 'https://ringkit.invalid/v1/openapi.json'
/** An answer as the server gave it (or as the README shows it): a JSON body parsed, any other as text. */
export interface Answer {
  status: number
  type: string | undefined
  body: unknown
}

/**
 * The document's JSON Schemas, compiled by ajv as draft 2020-12 in strict mode. The whole document
 * is added as one schema resource, so `#/components/schemas/…` resolves as an OpenAPI tool resolves
 * it; OpenAPI's own top-level fields are declared as keywords that ajv leaves alone.
 */
export class DocSchemas {
  readonly doc: OpenApiDoc
  readonly #ajv = new Ajv2020({ strict: true, allErrors: true })
  readonly #compiled = new Map<string, ValidateFunction>()

  constructor(doc: OpenApiDoc) {
    this.doc = doc
    for (const keyword of Object.keys(doc)) if (!['$schema', '$id'].includes(keyword)) this.#ajv.addKeyword(keyword)
    this.#ajv.addSchema({ ...doc, $id: DOC_ID })
  }

  /** JSON pointers of every schema in the document. */
  pointers(): string[] {
    const out = Object.keys(this.doc.components.schemas).map((name) => `/components/schemas/${escape(name)}`)
    for (const [path, item] of Object.entries(this.doc.paths)) {
      for (const [method, op] of Object.entries(item)) {
        const at = `/paths/${escape(path)}/${method}`
        op.parameters?.forEach((_, i) => out.push(`${at}/parameters/${i}/schema`))
        for (const type of Object.keys(op.requestBody?.content ?? {})) {
          out.push(`${at}/requestBody/content/${escape(type)}/schema`)
        }
        for (const [status, answer] of Object.entries(op.responses)) {
          for (const type of Object.keys(answer.content ?? {})) {
            out.push(`${at}/responses/${status}/content/${escape(type)}/schema`)
          }
        }
      }
    }
    return out
  }

  validator(pointer: string): ValidateFunction {
    let validate = this.#compiled.get(pointer)
    if (!validate) {
      validate = this.#ajv.compile({ $ref: `${DOC_ID}#${pointer.split('/').map(encodeURIComponent).join('/')}` })
      this.#compiled.set(pointer, validate)
    }
    return validate
  }

  /** The errors of `value` against the schema at `pointer`, or undefined when it is valid. */
  check(pointer: string, value: unknown): string | undefined {
    const validate = this.validator(pointer)
    return validate(value) ? undefined : this.#ajv.errorsText(validate.errors)
  }

  /** The operation for a concrete path (`/v1/accounts/bob`), with its path parameters. */
  find(method: string, url: string): { template: string; op: Operation; params: Record<string, string> } {
    const path = url.split('?')[0] ?? url
    for (const [template, item] of Object.entries(this.doc.paths)) {
      const op = item[method.toLowerCase()]
      const names: string[] = []
      const pattern = template.replace(/\{(\w+)\}/g, (_, name: string) => (names.push(name), '([^/]+)'))
      const match = new RegExp(`^${pattern.replaceAll('.', '\\.')}$`).exec(path)
      if (op && match) {
        const params = Object.fromEntries(names.map((name, i) => [name, decodeURIComponent(match[i + 1] ?? '')]))
        return { template, op, params }
      }
    }
    throw new Error(`the document has no ${method} ${path}`)
  }

  /** What is wrong with a request by the document: its path parameters and body. */
  checkRequest(method: string, url: string, body: unknown): string[] {
    const { template, op, params } = this.find(method, url)
    const at = `/paths/${escape(template)}/${method.toLowerCase()}`
    const problems: string[] = []
    op.parameters?.forEach((param, i) => {
      if (param.in !== 'path') return
      const error = this.check(`${at}/parameters/${i}/schema`, params[param.name])
      if (error) problems.push(`${param.name}: ${error}`)
    })
    if (body === undefined) {
      if (op.requestBody?.required) problems.push('the body is required')
    } else if (!op.requestBody) {
      problems.push('the document gives this route no body')
    } else {
      const error = this.check(`${at}/requestBody/content/application~1json/schema`, body)
      if (error) problems.push(`body: ${error}`)
    }
    return problems
  }

  /** What is wrong with an answer by the document: an undocumented status, media type or shape. */
  checkAnswer(method: string, url: string, answer: Answer): string[] {
    const { template, op } = this.find(method, url)
    const documented = op.responses[String(answer.status)]
    if (!documented) return [`status ${answer.status} is not documented for ${method} ${template}`]
    const types = Object.keys(documented.content ?? {})
    if (types.length === 0) return answer.body === '' ? [] : [`status ${answer.status} documents no body`]
    const type = types.find((t) => answer.type?.split(';')[0]?.trim() === t)
    if (!type) return [`${answer.type ?? 'no media type'} is not among ${types.join(', ')}`]
    const at = `/paths/${escape(template)}/${method.toLowerCase()}/responses/${answer.status}/content/${escape(type)}/schema`
    const error = this.check(at, answer.body)
    return error ? [`${method} ${url} ${answer.status}: ${error}`] : []
  }
}

/** A JSON pointer token. */
const escape = (token: string) => token.replaceAll('~', '~0').replaceAll('/', '~1')

/** Method and path of every route fastify has, from its `printRoutes({ commonPrefix: false })` tree. */
export function parseRouteTree(tree: string): { method: string; url: string }[] {
  const routes: { method: string; url: string }[] = []
  const stack: string[] = []
  for (const line of tree.split('\n')) {
    const match = /^((?:│ {3}| {4})*)(?:├── |└── )(\S+)(?: \(([^)]*)\))?$/.exec(line)
    if (!match) {
      if (line.trim()) throw new Error(`not a line of fastify's route tree: ${line}`)
      continue
    }
    const depth = (match[1] ?? '').length / 4
    stack.length = depth
    stack.push(match[2] ?? '')
    for (const method of (match[3] ?? '').split(', ').filter(Boolean)) routes.push({ method, url: stack.join('') })
  }
  return routes
}

/** An exchange in the README: a request line, maybe a JSON body, then the answer it gets. */
export interface ReadmeExchange {
  method: string
  path: string
  body: unknown
  answer: { status: number; body: unknown }
}

/** The README's REST examples: `ringkit(...)` calls in TypeScript, request/answer pairs in `http` blocks. */
export function readmeExamples(file: URL): { calls: Omit<ReadmeExchange, 'answer'>[]; exchanges: ReadmeExchange[] } {
  const text = readFileSync(file, 'utf8')
  const calls: Omit<ReadmeExchange, 'answer'>[] = []
  const exchanges: ReadmeExchange[] = []
  for (const [, lang, block = ''] of text.matchAll(/^```(\w*)\n([\s\S]*?)^```/gm)) {
    if (lang === 'ts') {
      for (const [, method = '', path = '', literal] of block.matchAll(
        /ringkit\('(\w+)', '([^']+)'(?:, (\{[^}]*\}))?\)/g,
      )) {
        calls.push({ method, path, body: literal === undefined ? undefined : jsLiteral(literal) })
      }
    }
    if (lang === 'http') exchanges.push(...httpExchanges(block))
  }
  return { calls, exchanges }
}

function httpExchanges(block: string): ReadmeExchange[] {
  const out: ReadmeExchange[] = []
  let request: Omit<ReadmeExchange, 'answer'> | undefined
  for (const paragraph of block.trim().split(/\n\s*\n/)) {
    const [first = '', ...rest] = paragraph.split('\n')
    const json = rest.join('\n').trim()
    const requestLine = /^(GET|POST|PATCH|PUT|DELETE) (\S+)$/.exec(first)
    const statusLine = /^(\d{3})\b/.exec(first)
    if (requestLine)
      request = { method: requestLine[1] ?? '', path: requestLine[2] ?? '', body: json ? JSON.parse(json) : undefined }
    else if (statusLine && request) {
      out.push({ ...request, answer: { status: Number(statusLine[1]), body: json ? JSON.parse(json) : undefined } })
      request = undefined
    } else throw new Error(`not a request or an answer: ${first}`)
  }
  return out
}

/** A plain object literal of the README (`{ accid: 'bob', name: 'Bob' }`) as JSON, without evaluating it. */
function jsLiteral(literal: string): unknown {
  return JSON.parse(literal.replace(/([{,]\s*)(\w+):/g, '$1"$2":').replace(/'([^']*)'/g, '"$1"'))
}

/** The rows of the README's REST table: methods, path, and the body fields and query it names. */
export function readmeRestTable(file: URL): ReadmeRow[] {
  const text = readFileSync(file, 'utf8')
  const section = text.slice(text.indexOf('## Quick start: your app backend'), text.indexOf('## Quick start: a client'))
  const rows: ReadmeRow[] = []
  for (const [, cell = ''] of section.matchAll(/^\| (`(?:GET|POST|PATCH|DELETE)[^|]*?) +\|/gm)) {
    const methods = [...cell.matchAll(/\b(GET|POST|PATCH|DELETE)\b/g)].map((m) => m[1] ?? '')
    const path = /(\/[^\s`?]+)/.exec(cell)?.[1] ?? ''
    const fields = /`\{([^}]*)\}`/
      .exec(cell)?.[1]
      ?.split(',')
      .map((f) => f.trim())
    const query = /\?([\w&]+)/.exec(cell)?.[1]?.split('&')
    rows.push({ methods, path, ...(fields ? { fields } : {}), ...(query ? { query } : {}) })
  }
  return rows
}

export interface ReadmeRow {
  methods: string[]
  path: string
  fields?: string[]
  query?: string[]
}
