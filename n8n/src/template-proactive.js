// A first message outside the WhatsApp 24-hour window (the lead never wrote, or not lately) must be
// an approved template. KOMMO_FIRST_TEMPLATE names it (default boas_vindas); its variable `nome` is
// the lead's first name (the service maps template variables to Kommo fields).
function setting(name, fallback) {
  try { if ($vars[name]) return String($vars[name]); } catch (error) { /* no variables here */ }
  try { if ($env[name]) return String($env[name]); } catch (error) { /* environment access blocked */ }
  return fallback;
}
const conversation = $input.first().json;
return [{
  json: {
    template: { name: setting('KOMMO_FIRST_TEMPLATE', 'boas_vindas'), params: { nome: conversation.first_name || '' } },
    actions: [],
  },
}];
