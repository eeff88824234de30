// Sign the answer (docs/contracts/README.md, contract v2): the service refuses an answer without a good
// X-Signature-V2 = "sha256=" + hex HMAC-SHA256(N8N_SIGNING_SECRET, "answer\n" + the request's
// X-Request-Id + "\n" + body). The body is serialised here and the next node (Respond to Webhook,
// "Respond With: Text") sends this very text, so the bytes signed are the bytes sent.
const crypto = require('crypto');

function setting(name) {
  try { if ($vars[name]) return String($vars[name]); } catch (error) { /* no variables here */ }
  try { if ($env[name]) return String($env[name]); } catch (error) { /* environment access blocked */ }
  return '';
}

// An answer the chat model wrote also carries `usage`: the tokens that "Count tokens" (count-tokens.js)
// added up in the execution's custom data, as the provider reported them.
const answer = $input.first().json;
const counted = $execution.customData.getAll();
if (counted.usage_model !== undefined) {
  answer.usage = {
    model: counted.usage_model,
    input_tokens: Number(counted.usage_input_tokens),
    output_tokens: Number(counted.usage_output_tokens),
  };
}
const requestId = String($('Verify signature').first().json.request_id || '');
const body = JSON.stringify(answer);
const signature = 'sha256=' + crypto.createHmac('sha256', setting('N8N_SIGNING_SECRET'))
  .update(`answer\n${requestId}\n`).update(body, 'utf8').digest('hex');
return [{ json: { body, signature } }];
