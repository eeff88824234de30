// The hand-over tool: nothing to call here. The workflow's last node turns this call into the
// contract's {"type": "handover"} action; the service then pauses the bot for the contact and
// creates a task for the salesperson.
const reason = typeof query === 'object' && query !== null ? query.reason : query;
return `Registrado: um consultor humano vai assumir a conversa (motivo: ${reason || 'não informado'}). Avise o cliente.`;
