"""Docker-free local run: moto's server as AWS, the HTTP API on :3000, SQS pollers, fakes of Kommo and n8n."""
