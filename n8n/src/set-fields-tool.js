// The set_fields tool: nothing to call here. The workflow's last node merges every call into the
// contract's one {"type": "set_fields", "fields"} action; the service writes the fields its
// QUALIFICATION_FIELDS names, each value checked against its Kommo type, and notes what it refused.
const fields = typeof query === 'object' && query !== null ? query.fields : null;
const names = fields && typeof fields === 'object' ? Object.keys(fields) : [];
return names.length
  ? `Registrado para o lead: ${names.join(', ')}. O sistema confere cada valor antes de gravar.`
  : 'Nenhum campo informado: passe `fields` como {campo: valor}.';
