// A real OpenID provider (the `oidc-provider` package) for rfd-api's OAuth login tests.
// It stands in for Google: authorization code with PKCE, the device grant (RFC 8628) and
// the OIDC userinfo endpoint are the package's own implementations.
//
// Only the human is scripted:
//  * an interaction (login and consent) that logs the fixed test user in at once, so a
//    browser following redirects completes the code flow; `POST /test/deny-next` makes
//    the next one decline (access_denied);
//  * `POST /test/device/approve` and `POST /test/device/deny` (form `user_code=…`): the
//    user entering a device code and approving or declining it, written to the
//    provider's own DeviceCode model as its verification page would.
//
// Environment: OIDC_CLIENT_ID, OIDC_CLIENT_SECRET, OIDC_REDIRECT_URIS (space-separated),
// OIDC_USER_SUB, OIDC_USER_EMAIL, OIDC_USER_NAME. Listens on a free loopback port and
// prints one JSON line `{"issuer": "http://127.0.0.1:PORT"}` when ready.

import http from 'node:http';
import Provider from 'oidc-provider';

const env = (name, fallback) => process.env[name] ?? fallback;
const clientId = env('OIDC_CLIENT_ID', 'rfd-test');
const clientSecret = env('OIDC_CLIENT_SECRET', 'rfd-test-secret');
const redirectUris = env('OIDC_REDIRECT_URIS', '').split(' ').filter(Boolean);
const user = {
  sub: env('OIDC_USER_SUB', 'test-user-1'),
  email: env('OIDC_USER_EMAIL', 'tester@example.com'),
  email_verified: true,
  name: env('OIDC_USER_NAME', 'Test User'),
};

const server = http.createServer();
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  clients: [{
    client_id: clientId,
    client_secret: clientSecret,
    redirect_uris: redirectUris,
    grant_types: ['authorization_code', 'urn:ietf:params:oauth:grant-type:device_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_post',
  }],
  features: {
    devInteractions: { enabled: false },
    deviceFlow: { enabled: true },
  },
  pkce: { required: () => true },
  scopes: ['openid', 'email', 'profile'],
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
  findAccount: async (_ctx, id) => (id === user.sub
    ? { accountId: id, claims: async () => user }
    : undefined),
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  cookies: { keys: ['rfd-api-test-cookie-key'] },
});

let denyNext = false;

async function readForm(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

function send(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

async function interaction(req, res) {
  const details = await provider.interactionDetails(req, res);
  if (denyNext) {
    denyNext = false;
    return provider.interactionFinished(req, res,
      { error: 'access_denied', error_description: 'the test user declined' },
      { mergeWithLastSubmission: false });
  }
  if (details.prompt.name === 'login') {
    return provider.interactionFinished(req, res, { login: { accountId: user.sub } },
      { mergeWithLastSubmission: false });
  }
  const grant = details.grantId
    ? await provider.Grant.find(details.grantId)
    : new provider.Grant({ accountId: details.session.accountId, clientId: details.params.client_id });
  const missing = details.prompt.details;
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  const grantId = await grant.save();
  return provider.interactionFinished(req, res, { consent: { grantId } },
    { mergeWithLastSubmission: true });
}

async function deviceDecision(req, res, approve) {
  const form = await readForm(req);
  const userCode = (form.get('user_code') ?? '').toUpperCase().replace(/\W/g, '');
  const code = await provider.DeviceCode.findByUserCode(userCode);
  if (!code) return send(res, 404, { error: 'unknown user_code' });
  if (approve) {
    const scope = code.params.scope ?? 'openid';
    const grant = new provider.Grant({ accountId: user.sub, clientId: code.clientId });
    grant.addOIDCScope(scope);
    const grantId = await grant.save();
    Object.assign(code, {
      accountId: user.sub, grantId, scope, authTime: Math.floor(Date.now() / 1000),
    });
  } else {
    Object.assign(code, { error: 'access_denied', errorDescription: 'the test user declined' });
  }
  await code.save();
  return send(res, 200, { ok: true });
}

const callback = provider.callback();
server.on('request', async (req, res) => {
  try {
    const path = new URL(req.url, issuer).pathname;
    if (req.method === 'GET' && path.startsWith('/interaction/')) return await interaction(req, res);
    if (req.method === 'POST' && path === '/test/deny-next') {
      denyNext = true;
      return send(res, 200, { ok: true });
    }
    if (req.method === 'POST' && path === '/test/device/approve') return await deviceDecision(req, res, true);
    if (req.method === 'POST' && path === '/test/device/deny') return await deviceDecision(req, res, false);
    return callback(req, res);
  } catch (err) {
    return send(res, 500, { error: String(err) });
  }
});

// The test may stop reading; that must not bring the provider down.
process.stdout.on('error', () => {});
process.stdout.write(`${JSON.stringify({ issuer })}\n`);
