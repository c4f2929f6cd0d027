// An OpenID provider we did not write — panva's certified oidc-provider — configured like
// ID-porten (PROFILE.md §9), for cmd/eidsp/oidc_interop_test.go. Loopback only, test keys made at
// start, nothing kept after exit.
//
//   EIDSP_OP_SP      the SP's base URL (redirect_uri BASE/oidc/callback, post-logout BASE/oidc/logged-out)
//   EIDSP_OP_SECRET  the client secret of both clients (client_secret_basic)
//   EIDSP_OP_PID     the national identity number of the one test person (the pid claim)
//
// Prints one line, "issuer=http://127.0.0.1:PORT", when it listens; exits when stdin closes, so
// it never outlives the test that started it.
//
// Clients: "eidsp" answers with the acr the SP asked for (acr_values); "eidsp-downgrade" always
// answers idporten-loa-substantial, whatever was asked: a provider that authenticates below the
// requested level, which the SP must refuse. amr follows the acr: MinID-PIN for substantial,
// BankID for high.
//
// Every login is the one test person, logged in at /interaction/:uid without a form (the SP is
// under test, not the provider's login page). Logout is RP-initiated with the provider's own
// confirmation form. oidc-provider 9 has no front-channel logout; back-channel logout is on only
// because that is what makes it put sid in the ID token (Client#includeSid), as ID-porten does.
// Its logout tokens go to /backchannel-logout here, where GET lists the sids received.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';

import Provider from 'oidc-provider';

const ACR_SUBSTANTIAL = 'idporten-loa-substantial';
const ACR_HIGH = 'idporten-loa-high';
const AMR = { [ACR_SUBSTANTIAL]: ['MinID-PIN'], [ACR_HIGH]: ['BankID'] };
const LOCALES = ['nb', 'nn', 'en', 'se'];
const ACCOUNT = 'test-person-1'; // sub: opaque, as ID-porten's is

function required(name) {
  const v = process.env[name];
  if (!v) {
    console.error(`server.mjs: ${name} is not set`);
    process.exit(2);
  }
  return v;
}

const sp = required('EIDSP_OP_SP').replace(/\/$/, '');
const secret = required('EIDSP_OP_SECRET');
const pid = required('EIDSP_OP_PID');

const server = createServer();
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(0, '127.0.0.1', resolve);
});
const issuer = `http://127.0.0.1:${server.address().port}`;

const signingKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });

const client = (id) => ({
  client_id: id,
  client_secret: secret,
  token_endpoint_auth_method: 'client_secret_basic',
  grant_types: ['authorization_code'],
  response_types: ['code'],
  redirect_uris: [`${sp}/oidc/callback`],
  post_logout_redirect_uris: [`${sp}/oidc/logged-out`],
  backchannel_logout_uri: `${issuer}/backchannel-logout`,
  backchannel_logout_session_required: true,
});

const grantLocales = new Map();

const provider = new Provider(issuer, {
  clients: [client('eidsp'), client('eidsp-downgrade')],
  jwks: { keys: [{ ...signingKey, kid: 'test-1', use: 'sig', alg: 'RS256' }] },
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  responseTypes: ['code'],
  pkce: { required: () => true }, // S256 is the only method oidc-provider 9 knows
  acrValues: [ACR_SUBSTANTIAL, ACR_HIGH],
  scopes: ['openid'],
  // ID-porten's ID token always carries amr and auth_time; oidc-provider releases a claim only
  // when a granted scope names it or the request asks for it, so the openid scope names them.
  claims: { openid: ['sub', 'pid', 'locale', 'amr', 'auth_time'] },
  // ID-porten puts pid in the ID token, not only behind the userinfo endpoint.
  conformIdTokenClaims: false,
  features: {
    devInteractions: { enabled: false },
    rpInitiatedLogout: { enabled: true },
    backchannelLogout: { enabled: true },
  },
  // token is the authorization code when the ID token is made; its grant remembers the language
  // the SP asked for (ui_locales), which becomes the locale claim.
  async findAccount(ctx, sub, token) {
    if (sub !== ACCOUNT) return undefined;
    const locale = grantLocales.get(token?.grantId) || 'nb';
    return { accountId: sub, async claims() { return { sub, pid, locale }; } };
  },
  // The one outgoing request is the back-channel logout token to this server; oidc-provider
  // refuses loopback addresses by default (SSRF protection), so it is let through for our own
  // origin only.
  async fetch(url, options) {
    if (new URL(url).origin === issuer) {
      const { dispatcher, ...rest } = options;
      return globalThis.fetch(url, rest);
    }
    return globalThis.fetch(url, options);
  },
});
provider.on('server_error', (ctx, err) => console.error('server_error', err));
provider.on('backchannel.error', (ctx, err) => console.error('backchannel.error', err));

const logoutSids = [];
const callback = provider.callback();

async function interaction(req, res) {
  const details = await provider.interactionDetails(req, res);
  const { prompt, params } = details;
  let result;
  switch (prompt.name) {
    case 'login': {
      const asked = (params.acr_values || '').split(' ');
      let acr = asked.includes(ACR_HIGH) ? ACR_HIGH : ACR_SUBSTANTIAL;
      if (params.client_id === 'eidsp-downgrade') acr = ACR_SUBSTANTIAL;
      result = { login: { accountId: ACCOUNT, acr, amr: AMR[acr] } };
      break;
    }
    case 'consent': {
      const grant = details.grantId
        ? await provider.Grant.find(details.grantId)
        : new provider.Grant({ accountId: details.session.accountId, clientId: params.client_id });
      if (prompt.details.missingOIDCScope) grant.addOIDCScope(prompt.details.missingOIDCScope.join(' '));
      if (prompt.details.missingOIDCClaims) grant.addOIDCClaims(prompt.details.missingOIDCClaims);
      const grantId = await grant.save();
      const locale = (params.ui_locales || '').split(' ').find((l) => LOCALES.includes(l));
      if (locale) grantLocales.set(grantId, locale);
      result = { consent: { grantId } };
      break;
    }
    default:
      throw new Error(`unexpected prompt ${prompt.name}`);
  }
  await provider.interactionFinished(req, res, result, { mergeWithLastSubmission: false });
}

function backchannelLogout(req, res) {
  if (req.method === 'GET') {
    res.setHeader('Content-Type', 'application/json');
    res.end(JSON.stringify({ sids: logoutSids }));
    return;
  }
  let body = '';
  req.setEncoding('utf8');
  req.on('data', (chunk) => { body += chunk; });
  req.on('end', () => {
    // Not verified: this only records what the provider sent; the SP is what is under test.
    const token = new URLSearchParams(body).get('logout_token') || '';
    const payload = JSON.parse(Buffer.from(token.split('.')[1] || '', 'base64url').toString() || '{}');
    logoutSids.push(payload.sid);
    res.statusCode = 200;
    res.end();
  });
}

server.on('request', (req, res) => {
  const path = new URL(req.url, issuer).pathname;
  if (path.startsWith('/interaction/')) {
    interaction(req, res).catch((err) => {
      console.error('interaction', err);
      res.statusCode = 500;
      res.end(String(err.message));
    });
  } else if (path === '/backchannel-logout') {
    backchannelLogout(req, res);
  } else {
    callback(req, res);
  }
});

process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
console.log(`issuer=${issuer}`);
