"""The API's documented answers (OpenAPI `responses=`), beside the models they describe: what each
route of SendFunction answers, with examples a client team can read. A data table, not logic."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse

from messaging.models.response import (
    ErrorResponse,
    FailuresPage,
    PreviewResponse,
    SendAccepted,
    SendResponse,
    SendScheduled,
    SendStatus,
)

SEND_ID_HEADER = "X-Send-Id"
SEND_ID_EXAMPLE = "4f1c2b3a-5d6e-4f70-8a9b-0c1d2e3f4a5b"
SEND_ID_DESCRIPTION = "the sendId of the 202, or the X-Send-Id of the 200"


def error_examples(status: int, examples: dict[str, str]) -> dict[str, Any]:
    """An OpenAPI response body in the error shape, with its examples' messages by name."""
    phrase = HTTPStatus(status).phrase
    return {
        "application/json": {
            "model": ErrorResponse,
            "examples": {
                name: {"value": {"statusCode": str(status), "error": phrase, "message": message}}
                for name, message in examples.items()
            },
        }
    }


SEND: dict[int, OpenAPIResponse] = {
    200: {
        "description": "Sending ran; every user who did not get the message on a channel is listed.",
        "headers": {
            SEND_ID_HEADER: {
                "description": "The send's id: its status and delivery events at GET /sends/{sendId}.",
                "schema": {"type": "string"},
                "examples": {"send id": {"value": "4f1c2b3a5d6e4f708a9b0c1d2e3f4a5b"}},
            }
        },
        "content": {
            "application/json": {
                "model": SendResponse,
                "examples": {
                    "all sent": {"value": {"failures": []}},
                    "some failed": {
                        "value": {"failures": [{"userId": "nobody", "channel": "sms", "error": "user not found"}]}
                    },
                },
            }
        },
    },
    202: {
        "description": "With `Prefer: respond-async`: accepted, nothing refused it; with `sendAt` ahead: "
        "scheduled. Follow it at `Location` (GET /sends/{sendId}); cancel it with DELETE there.",
        "content": {
            "application/json": {
                "model": SendAccepted | SendScheduled,
                "examples": {
                    "accepted": {"value": {"sendId": SEND_ID_EXAMPLE, "status": "accepted"}},
                    "scheduled": {
                        "value": {"sendId": SEND_ID_EXAMPLE, "status": "scheduled", "sendAt": "2026-12-07T08:00:00Z"}
                    },
                },
            }
        },
    },
    400: {
        "description": "The body breaks a rule (the message names the field), or a stored template cannot be rendered.",
        "content": error_examples(
            400,
            {
                "no audience": "recipients or clusters is required (non-empty)",
                "unknown channel": "channels[0]: Input should be 'email', 'sms', 'push' or 'voice'",
                "inactive channel": "channels: sms not in activeChannels (email, push)",
            },
        ),
    },
    403: {
        "description": "The request says `transactional: true` and its caller is not in transactionalCallers.",
        "content": error_examples(
            403,
            {"not trusted": "transactional: this caller may not send transactional messages (transactionalCallers)"},
        ),
    },
    404: {
        "description": "templateId names no stored template.",
        "content": error_examples(404, {"unknown template": "templateId: template 65f100000000000000000009 not found"}),
    },
    503: {
        "description": "The database or the File Service is unreachable, or rendering ran past the deadline.",
        "content": error_examples(503, {"database down": "database unreachable: ServerSelectionTimeoutError"}),
    },
}

_NO_SUCH_SEND: OpenAPIResponse = {
    "description": "No send with this id for this caller (or its record expired).",
    "content": error_examples(404, {"unknown send": f"sendId: no send {SEND_ID_EXAMPLE}"}),
}

SEND_STATUS: dict[int, OpenAPIResponse] = {
    200: {
        "description": "Per channel, sent + failed + skipped + pending = audience + notFound.",
        "content": {
            "application/json": {
                "model": SendStatus,
                "examples": {
                    "running": {
                        "value": {
                            "sendId": SEND_ID_EXAMPLE,
                            "status": "running",
                            "createdAt": "2026-11-28T09:00:00Z",
                            "updatedAt": "2026-11-28T09:00:40Z",
                            "completedAt": None,
                            "audience": 25000,
                            "notFound": 0,
                            "channels": {"email": {"sent": 6300, "failed": 0, "skipped": 12, "pending": 18688}},
                        }
                    }
                },
            }
        },
    },
    404: _NO_SUCH_SEND,
}

SEND_FAILURES: dict[int, OpenAPIResponse] = {
    200: {
        "description": "Entries exactly as a synchronous answer has them; the dispatch's are complete once the "
        "send is over, and delivery events (bounces, complaints, carrier failures) add entries after them later.",
        "content": {
            "application/json": {
                "model": FailuresPage,
                "examples": {
                    "last page": {
                        "value": {
                            "failures": [{"userId": "nobody", "channel": "email", "error": "user not found"}],
                            "nextToken": None,
                        }
                    }
                },
            }
        },
    },
    400: {
        "description": "`nextToken` is not one this API gave (or is for another send).",
        "content": error_examples(400, {"forged token": "nextToken: not a token this API gave"}),
    },
    404: _NO_SUCH_SEND,
}

PREVIEW: dict[int, OpenAPIResponse] = {
    200: {
        "description": "The messages of the first `limit` users as rendered, who of them would be skipped "
        "and why, and whose message cannot be made; nothing was sent.",
        "content": {
            "application/json": {
                "model": PreviewResponse,
                "examples": {
                    "one user": {
                        "value": {
                            "audience": 42,
                            "audienceComplete": True,
                            "messages": [
                                {
                                    "userId": "u1",
                                    "channel": "sms",
                                    "message": {"userId": "u1", "phoneNumber": "+393330000001", "text": "Hi Ann"},
                                }
                            ],
                            "skipped": [{"userId": "u1", "channel": "email", "reason": "optedOut"}],
                            "failures": [],
                            "truncated": False,
                        }
                    }
                },
            }
        },
    },
    # The same refusals as POST /send: the body is read and resolved as a send's would be.
    **{status: SEND[status] for status in (400, 403, 404, 503)},
}

CANCEL_SEND: dict[int, OpenAPIResponse] = {
    200: {
        "description": "The cancel is recorded (or was already): `cancelled` at once for a scheduled send; "
        "`cancelling` for a running one (batches in flight finish and count; the rest counts `cancelled`), "
        "then `cancelled`.",
        "content": {
            "application/json": {
                "model": SendStatus,
                "examples": {
                    "cancelled": {
                        "value": {
                            "sendId": SEND_ID_EXAMPLE,
                            "status": "cancelled",
                            "createdAt": "2026-11-28T09:00:00Z",
                            "updatedAt": "2026-11-28T09:10:00Z",
                            "completedAt": "2026-11-28T09:10:00Z",
                            "sendAt": "2026-12-07T08:00:00Z",
                            "audience": 0,
                            "notFound": 0,
                            "channels": {"email": {"sent": 0, "failed": 0, "skipped": 0, "pending": 0, "cancelled": 0}},
                        }
                    }
                },
            }
        },
    },
    404: _NO_SUCH_SEND,
    409: {
        "description": "The send is over (`completed`, `failed`) or was synchronous: nothing to cancel.",
        "content": error_examples(
            409,
            {
                "over": "sendId: the send is already completed",
                "synchronous": "sendId: a synchronous send cannot be cancelled (it is completed)",
            },
        ),
    },
}
