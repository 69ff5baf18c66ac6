"""The MQTT door: start tasks from messages, publish every state change."""
