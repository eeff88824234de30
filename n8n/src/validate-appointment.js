// Check the appointment the service sent (kind scheduling) and shape the rows to store.
// The appointment is `body.appointment` (or the body itself): id, vendor_id, lead_id, contact
// (object {id, name, phone} or an id), start, end (ISO 8601 with offset) and status
// (booked | cancelled | rescheduled). Every appointment goes into the one `agenda` table, shown in
// the salesperson's view agenda_<vendor_id>. `agenda_table`, which the service still sends, names
// nothing any more (the row goes where vendor_id says): it is optional, and refused only when it lacks
// the contract's shape (^agenda_[a-z0-9_]+$, at most 63 characters).
const request = $input.first().json.request;
const appointment = request.appointment && typeof request.appointment === 'object' ? request.appointment : request;
const problems = [];

const table = appointment.agenda_table ?? request.agenda_table;
if (table != null && !(/^agenda_[a-z0-9_]+$/.test(String(table)) && String(table).length <= 63)) {
  problems.push('agenda_table must match ^agenda_[a-z0-9_]+$ (at most 63 characters)');
}
const id = String(appointment.id ?? '').trim();
if (!id || id.length > 200) problems.push('id: the appointment id is required (at most 200 characters)');
const vendorId = Number(appointment.vendor_id ?? (request.vendor && request.vendor.id));
if (!Number.isSafeInteger(vendorId) || vendorId <= 0) problems.push('vendor_id: a positive integer is required');
const leadId = Number(appointment.lead_id ?? (request.lead && request.lead.id));
if (!Number.isSafeInteger(leadId) || leadId <= 0) problems.push('lead_id: a positive integer is required');
const start = Date.parse(appointment.start);
const end = Date.parse(appointment.end);
if (Number.isNaN(start)) problems.push('start: an ISO 8601 date-time is required');
if (Number.isNaN(end) || !(end > start)) problems.push('end: an ISO 8601 date-time after start is required');
const status = String(appointment.status ?? '');
if (!['booked', 'cancelled', 'rescheduled'].includes(status)) problems.push('status: booked, cancelled or rescheduled');

if (problems.length) return [{ json: { valid: false, problems } }];

const contact = appointment.contact && typeof appointment.contact === 'object'
  ? appointment.contact
  : appointment.contact != null ? { id: appointment.contact } : (request.contact || {});
const contactId = Number(contact.id);
const startsAt = new Date(start).toISOString();
const endsAt = new Date(end).toISOString();
const conversationId = String(request.conversation_id ?? appointment.conversation_id ?? '');
const payload = JSON.stringify(appointment);

return [{
  json: {
    valid: true,
    appointment_id: id,
    vendor_id: vendorId,
    agenda: {
      id,
      vendor_id: vendorId,
      lead_id: leadId,
      contact_id: Number.isSafeInteger(contactId) && contactId > 0 ? contactId : null,
      contact_name: String(contact.name ?? ''),
      contact_phone: String(contact.phone ?? ''),
      starts_at: startsAt,
      ends_at: endsAt,
      status,
      conversation_id: conversationId,
      payload,
      updated_at: new Date().toISOString(),
    },
    history: {
      event_key: `${id}:${status}:${startsAt}`,
      kind: 'appointment',
      appointment_id: id,
      vendor_id: vendorId,
      lead_id: leadId,
      conversation_id: conversationId,
      status,
      starts_at: startsAt,
      ends_at: endsAt,
      agenda_table: `agenda_${vendorId}`,
      payload,
    },
  },
}];
