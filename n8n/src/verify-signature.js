// Verify the service's signature (docs/contracts/README.md, contract v2). X-Signature-V2 must be
// "sha256=" + hex HMAC-SHA256(N8N_SIGNING_SECRET, "POST\n" + path + "\n" + X-Timestamp + "\n" +
// X-Request-Id + "\n" + body), compared in constant time; `path` is this webhook's own (the path of
// its URL as n8n knows it: behind a proxy that adds a prefix, set n8n's WEBHOOK_URL), so a request
// signed for another workflow is refused. X-Timestamp (unix seconds) must be at most 5 minutes old
// and not in the future (30 s of clock skew allowed); the next node remembers X-Request-Id for that
// window, so a captured request is refused later and replayed at once alike.
// The body checked is the exact bytes received (the Webhook node's "Raw Body" option); without it,
// the parsed body re-serialised with JSON.stringify (the same bytes for the service's compact JSON).
// Needs NODE_FUNCTION_ALLOW_BUILTIN=crypto, and the secret as an n8n variable N8N_SIGNING_SECRET or
// in n8n's environment (then N8N_BLOCK_ENV_ACCESS_IN_NODE=false).
const crypto = require('crypto');
const MAX_AGE_SECONDS = 300;
const MAX_SKEW_SECONDS = 30;

function setting(name) {
  try { if ($vars[name]) return String($vars[name]); } catch (error) { /* no variables here */ }
  try { if ($env[name]) return String($env[name]); } catch (error) { /* environment access blocked */ }
  return '';
}

const item = $input.first();
const headers = item.json.headers || {};
const body = item.json.body;
const secret = setting('N8N_SIGNING_SECRET');
const timestamp = String(headers['x-timestamp'] ?? '');
const requestId = String(headers['x-request-id'] ?? '');
// the path of this webhook's URL (the Code node has no URL class): http://host:5678/webhook/x -> /webhook/x
const address = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*([^?#]*)/.exec(String(item.json.webhookUrl ?? ''));
const path = address ? (address[1] || '/') : '';

let raw = null;
if (item.binary && item.binary.data) {
  try { raw = await this.helpers.getBinaryDataBuffer(0, 'data'); } catch (error) { raw = null; }
}
if (raw === null) raw = Buffer.from(JSON.stringify(body ?? {}), 'utf8');

let reason = '';
const age = Date.now() / 1000 - Number(timestamp);
if (!secret) {
  reason = 'the signing secret is not configured in n8n';
} else if (!/^[0-9]{1,12}$/.test(timestamp)) {
  reason = 'missing or malformed X-Timestamp';
} else if (!/^[0-9A-Za-z_-]{16,64}$/.test(requestId)) {
  reason = 'missing or malformed X-Request-Id';
} else if (!path) {
  reason = "this webhook's URL is unknown";
} else if (age > MAX_AGE_SECONDS) {
  reason = 'request too old';
} else if (age < -MAX_SKEW_SECONDS) {
  reason = 'request dated in the future';
} else {
  const expected = Buffer.from('sha256=' + crypto.createHmac('sha256', secret)
    .update(`POST\n${path}\n${timestamp}\n${requestId}\n`).update(raw).digest('hex'));
  const given = Buffer.from(String(headers['x-signature-v2'] ?? ''));
  if (!(given.length === expected.length && crypto.timingSafeEqual(given, expected))) reason = 'bad signature';
}
const signed = reason === '' && body !== null && typeof body === 'object';
return [{
  json: {
    signed,
    reason: signed ? '' : (reason || 'the body is not a JSON object'),
    request: signed ? body : null,
    request_id: signed ? requestId : '',
  },
}];
