// The contract answer for a follow-up: the agent's text (at most 4096 characters), no actions.
const output = $input.first().json;
const text = typeof output.output === 'string' ? output.output.trim() : '';
return [{ json: { reply: text ? Array.from(text).slice(0, 4096).join('') : null, actions: [] } }];
