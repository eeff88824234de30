// Check the salesperson list the service's sync sent (kind salespeople,
// docs/contracts/n8n-salespeople.v2.schema.json) and shape the rows of `vendedores`:
// {"version": "2", "kind": "salespeople", "salespeople": [{"id", "name", "areas", "active"}]}, the id
// being the salesperson's Kommo user id; `name` (default "") and `areas` (default []) may be left out.
// Every salesperson the service knows comes each time, those gone from Kommo with active false, so the
// rows are upserted as they come and none is deleted.
const MAX_SALESPEOPLE = 1000;
const request = $input.first().json.request;
const salespeople = request.salespeople;
const problems = [];

if ((request.kind ?? 'salespeople') !== 'salespeople') problems.push('kind: "salespeople" is expected');
if (!Array.isArray(salespeople)) {
  problems.push('salespeople: a list is required');
} else if (salespeople.length > MAX_SALESPEOPLE) {
  problems.push(`salespeople: at most ${MAX_SALESPEOPLE}`);
}
const rows = [];
const seen = new Set();
(Array.isArray(salespeople) ? salespeople.slice(0, MAX_SALESPEOPLE) : []).forEach((salesperson, index) => {
  const where = `salespeople[${index}]`;
  if (!salesperson || typeof salesperson !== 'object') {
    problems.push(`${where}: an object is required`);
    return;
  }
  const { id, name = '', areas = [], active } = salesperson;
  if (!Number.isSafeInteger(id) || id <= 0) problems.push(`${where}.id: a positive integer (Kommo user id) is required`);
  else if (seen.has(id)) problems.push(`${where}.id: ${id} comes twice`);
  if (typeof name !== 'string' || name.length > 200) problems.push(`${where}.name: a text of at most 200 characters`);
  if (!Array.isArray(areas) || !areas.every((area) => typeof area === 'string' && area.length <= 200)) {
    problems.push(`${where}.areas: a list of texts`);
  }
  if (typeof active !== 'boolean') problems.push(`${where}.active: true or false is required`);
  seen.add(id);
  rows.push({ id, nome: name, areas, ativo: active });
});

if (problems.length) return [{ json: { valid: false, problems: problems.slice(0, 20) } }];
return [{ json: { valid: true, rows: JSON.stringify(rows), count: rows.length } }];
