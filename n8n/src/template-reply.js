// The WhatsApp 24-hour window is closed: free text would be refused, so answer with an approved
// template. KOMMO_REOPEN_TEMPLATE names it (default retomada_contato); its variable `nome` is the
// client's first name (the service maps template variables to Kommo fields).
function setting(name, fallback) {
  try { if ($vars[name]) return String($vars[name]); } catch (error) { /* no variables here */ }
  try { if ($env[name]) return String($env[name]); } catch (error) { /* environment access blocked */ }
  return fallback;
}
const conversation = $input.first().json;
return [{
  json: {
    template: { name: setting('KOMMO_REOPEN_TEMPLATE', 'retomada_contato'), params: { nome: conversation.first_name || '' } },
    actions: [],
  },
}];
