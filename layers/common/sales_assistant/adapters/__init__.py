"""Adapters: DynamoDB repositories, SQS queues, the Kommo client and the n8n client."""
