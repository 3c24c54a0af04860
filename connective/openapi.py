"""The webhook endpoint in the OpenAPI schema too (it is a plain Django view, which drf-spectacular does not
see), so providers and API tools read one description."""

WEBHOOK = {
    "post": {
        "operationId": "telephony_webhook",
        "summary": "Deliver call events of a telephony channel",
        "description": "A JSON object, a JSON array of events, or a form-urlencoded body (PHP bracket keys nest). "
        "The token may also come as X-Webhook-Token, Authorization: Bearer or HTTP Basic (password).",
        "tags": ["webhooks"],
        "security": [],
        "parameters": [
            {"name": "webhook_id", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}},
            {"name": "token", "in": "query", "required": False, "schema": {"type": "string"}},
        ],
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"oneOf": [{"type": "object"}, {"type": "array", "items": {"type": "object"}}]}
                },
                "application/x-www-form-urlencoded": {"schema": {"type": "object"}},
            },
        },
        "responses": {
            "202": {
                "description": "Stored and queued",
                "content": {"application/json": {"schema": {"type": "object"}}},
            },
            **{
                code: {"description": text, "content": {"application/json": {"schema": {"type": "object"}}}}
                for code, text in [
                    ("400", "The body cannot be read as events (stored as rejected)"),
                    ("401", "Missing or wrong token"),
                    ("403", "The channel is inactive"),
                    ("404", "Unknown webhook"),
                    ("413", "Body over the size limit"),
                    ("429", "Throttled"),
                    ("503", "Storage unavailable: retry later"),
                ]
            },
        },
    }
}


def add_webhook_endpoint(result, generator, request, public):
    result.setdefault("paths", {})["/webhooks/telephony/{webhook_id}/"] = WEBHOOK
    return result
