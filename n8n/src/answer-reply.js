// Build the contract answer (docs/contracts/n8n-response.v2.schema.json) from the agent's output, in the
// reply and the first-message workflows: `reply` is the agent's text (at most 4096 characters) without the
// "[fontes: id, ...]" mark where it names the playbook entries it used; `playbook_ids` (left out when none)
// lists those of them that a search_playbook call returned (at most 10), so that a named id is one the
// playbook has; `actions` come from the tools it called:
// - hand_over -> {"type": "handover", "reason"}: the service pauses the bot and tasks the salesperson;
// - set_fields -> one {"type": "set_fields", "fields"}: every call's fields merged (a later value of a
//   field wins), at most 20 fields; the service checks each against the request's qualification. A
//   value of no shape the contract takes (an object, a text over 1000 characters) is left out, so that
//   it cannot make the whole answer invalid;
// - book_appointment that did not book (the service's API unreachable or refusing, other than a
//   taken slot, which the agent handles by offering other times) -> {"type": "schedule", "slot",
//   "reason"}: the salesperson gets a task to confirm the meeting by hand.
// A successful booking, reschedule or cancellation needs no action: the service made it and runs its
// own scheduling flow (the salesperson's meeting task moved or completed, the agenda updated); a
// reschedule or cancellation that failed is the agent's to tell, or to hand over.
// At most one of each (the last booking that failed), within the contract's bounds (5 actions, texts capped).
const output = $input.first().json;
const text = typeof output.output === 'string' ? output.output.trim() : '';
const steps = Array.isArray(output.intermediateSteps) ? output.intermediateSteps : [];

function parsed(value) {
  if (typeof value !== 'string') return value;
  try { return JSON.parse(value); } catch (error) { return value; }
}
function toolAnswer(observation) {
  let value = parsed(observation);
  if (Array.isArray(value)) value = value[0];
  if (value && typeof value === 'object' && 'response' in value) value = parsed(value.response);
  return value;
}

const SOURCES = /\[fontes?:([^\]]*)\]/gi;
const MAX_PLAYBOOK_IDS = 10;
const MAX_ID = 64;

const MAX_FIELDS = 20;
const MAX_TEXT = 1000;
function fieldValue(value) {
  const text = (item) => typeof item === 'string' && item.length <= MAX_TEXT;
  if (value === null || typeof value === 'number' || typeof value === 'boolean' || text(value)) return true;
  return Array.isArray(value) && value.length <= MAX_FIELDS && value.every(text);
}

const actions = [];
const fields = {};
const returned = new Set();
for (const step of steps) {
  const tool = String((step.action && step.action.tool) || '');
  const input = (step.action && step.action.toolInput) || {};
  if (tool === 'search_playbook') {
    const answer = toolAnswer(step.observation);
    const entries = answer && Array.isArray(answer.entries) ? answer.entries : [];
    for (const entry of entries) returned.add(String(entry.id));
  }
  if (tool === 'hand_over' && !actions.some((action) => action.type === 'handover')) {
    actions.push({ type: 'handover', reason: String(input.reason || 'o assistente pediu um consultor').slice(0, 500) });
  }
  if (tool === 'set_fields' && input.fields && typeof input.fields === 'object' && !Array.isArray(input.fields)) {
    for (const [name, value] of Object.entries(input.fields)) {
      const room = name in fields || Object.keys(fields).length < MAX_FIELDS;
      if (room && name.length >= 1 && name.length <= 64 && fieldValue(value)) fields[name] = value;
    }
  }
  if (tool === 'book_appointment') {
    const answer = toolAnswer(step.observation);
    const booked = answer && typeof answer === 'object' && answer.id && !answer.error;
    const taken = answer && typeof answer === 'object' && Array.isArray(answer.nearest_free);
    if (!booked && !taken) {
      const failed = {
        type: 'schedule',
        slot: typeof input.start === 'string' ? input.start.slice(0, 64) : null,
        reason: 'o assistente não conseguiu marcar pelo sistema: confirme o horário com o cliente',
      };
      const earlier = actions.findIndex((action) => action.type === 'schedule');
      if (earlier >= 0) actions.splice(earlier, 1, failed); else actions.push(failed);
    }
  }
}

if (Object.keys(fields).length) actions.push({ type: 'set_fields', fields });

const named = [...text.matchAll(SOURCES)].flatMap((match) => match[1].split(/[\s,;]+/));
const playbookIds = [...new Set(named)].filter((id) => returned.has(id) && id.length <= MAX_ID).slice(0, MAX_PLAYBOOK_IDS);
const said = text.replace(SOURCES, '').trim();
const reply = said ? Array.from(said).slice(0, 4096).join('') : null;
return [{ json: { reply, actions, ...(playbookIds.length ? { playbook_ids: playbookIds } : {}) } }];
