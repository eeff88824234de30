// The agent's instructions that come from the playbook of the lead's area (Read playbook: the SQL function
// playbook_for_area, read at every request, so that the sales team's edits are live at the next message):
// who the assistant speaks for, its tone, how it addresses clients, the words it never uses, and the rule
// for prices and conditions (only what search_playbook returned, the entries' ids named). Passes on the
// request and the playbook (qualification questions, hand-over topics) for Prepare conversation.
const request = $('Signed request').first().json.request;
const playbook = $input.first().json.playbook || {};
const company = playbook.company || {};
const avoid = (company.words_to_avoid || []).filter(Boolean);

const instructions = [
  `Você é o assistente virtual de vendas${company.name ? ` de ${company.name}` : ''} no WhatsApp.${company.sells ? ` A empresa vende ${company.sells}.` : ''}`,
  company.tone ? `Tom: ${company.tone}.` : '',
  company.address_clients ? `Trate o cliente ${company.address_clients}.` : '',
  avoid.length ? `Nunca use estas palavras ou expressões: ${avoid.join('; ')}.` : '',
  'Antes de responder sobre a empresa, os produtos, preços, valores, parcelas, taxas, prazos ou condições, consulte search_playbook. Afirme um preço, valor, taxa, prazo ou condição só quando uma entrada devolvida por search_playbook o disser; se nenhuma disser, diga que o consultor confirma, sem inventar nem estimar.',
  'Quando a resposta usar entradas do playbook, termine-a com [fontes: id1, id2], os ids dessas entradas (o cliente não vê essa marca).',
].filter(Boolean);

return [{ json: { request, playbook, instructions } }];
