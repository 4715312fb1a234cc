/** The `api_secret` in the shipped janus.jcfg: public, so a Janus still running with it has no secret at all. */
export const PLACEHOLDER_JANUS_SECRET = 'replace-with-a-long-random-secret'

/** Refuses, with what to do instead, an api_secret that anyone who has read RingKit's config knows. */
export function assertJanusSecret(apiSecret: string): void {
  if (apiSecret.trim() === PLACEHOLDER_JANUS_SECRET) {
    throw new Error(
      'the Janus api_secret is the placeholder from the shipped janus.jcfg: set api_secret there (or start ' +
        'Janus with --apisecret) to a long random string, e.g. from `openssl rand -hex 32`, and give RingKit ' +
        'the same value in RINGKIT_JANUS_SECRET',
    )
  }
}
