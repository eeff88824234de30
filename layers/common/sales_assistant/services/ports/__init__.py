"""What the services need from the outside world, as small protocols: adapters implement them, unit tests
pass in-memory fakes (tests/unit/fakes.py). One module per side of the service, each name once:

- `kommo`: the CRM (leads, contacts, users, notes and tasks, the Salesbot relay, the health checks);
- `n8n`: the AI that writes and the agenda it forwards to;
- `storage`: the service's own records (conversations, salespeople, bot states, triggers, the agenda, ...);
- `queues`: work handed to a later invocation (flush jobs, triggers, appointment changes);
- `flows`: what one flow asks of another (a pause, a booking).
"""
