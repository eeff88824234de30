// Verify the service's signature (docs/contracts/README.md). X-Signature must be
// "sha256=" + hex HMAC-SHA256(N8N_SIGNING_SECRET, X-Timestamp + "." + body), compared in constant
// time, and X-Timestamp (unix seconds) at most 5 minutes old and not in the future (30 s of clock
// skew allowed), so that a captured request cannot be replayed later.
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
} else if (age > MAX_AGE_SECONDS) {
  reason = 'request too old';
} else if (age < -MAX_SKEW_SECONDS) {
  reason = 'request dated in the future';
} else {
  const expected = Buffer.from('sha256=' + crypto.createHmac('sha256', secret)
    .update(timestamp + '.').update(raw).digest('hex'));
  const given = Buffer.from(String(headers['x-signature'] ?? ''));
  if (!(given.length === expected.length && crypto.timingSafeEqual(given, expected))) reason = 'bad signature';
}
const signed = reason === '' && body !== null && typeof body === 'object';
return [{ json: { signed, reason: signed ? '' : (reason || 'the body is not a JSON object'), request: signed ? body : null } }];
