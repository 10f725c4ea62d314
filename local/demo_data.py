"""Demo users and templates for the local stack: several clusters, some users lacking an address."""

from __future__ import annotations

from typing import Any

from bson import ObjectId

REMINDER_TEMPLATE = "65f100000000000000000001"
WELCOME_TEMPLATE = "65f100000000000000000002"

USERS: list[dict[str, Any]] = [
    {
        "_id": "alice",
        "name": "Alice",
        "surname": "Rossi",
        "emailAddress": "alice@example.com",
        "phoneNumber": "+393331111111",
        "deviceToken": "demo-token-alice",
        "clusters": ["patients", "rome"],
    },
    {
        "_id": "bob",
        "name": "Bob",
        "surname": "Bianchi",
        "emailAddress": "bob@example.com",
        "clusters": ["patients"],
    },  # e-mail only
    {
        "_id": "carla",
        "name": "Carla",
        "surname": "Verdi",
        "phoneNumber": "+393332222222",
        "deviceToken": "unregistered-carla",
        "clusters": ["doctors"],
    },  # her app was uninstalled
    {
        "_id": "dario",
        "name": "Dario",
        "surname": "Neri",
        "emailAddress": "dario@example.com",
        "phoneNumber": "+393333333333",
        "deviceToken": "demo-token-dario",
        "clusters": ["doctors", "rome"],
    },
    {"_id": "elena", "name": "Elena", "surname": "Gallo", "clusters": ["patients"]},  # no address at all
    # A number the End User Messaging stand-in refuses (ending in 0000): voice and SMS through it fail.
    {"_id": "fabio", "name": "Fabio", "surname": "Conti", "phoneNumber": "+393330000000", "clusters": []},
    # Unsubscribed from e-mail: skipped there (not a failure) unless a message is transactional.
    {
        "_id": "gina",
        "name": "Gina",
        "surname": "Ferri",
        "emailAddress": "gina@example.com",
        "deviceToken": "demo-token-gina",
        "optOuts": ["email"],
        "clusters": [],
    },
    # Italian, in Rome: gets a message's `it` variant, dates in her zone and numbers her way.
    {
        "_id": "ilaria",
        "name": "Ilaria",
        "surname": "Marino",
        "phoneNumber": "+393334444444",
        "locale": "it-IT",
        "timezone": "Europe/Rome",
        "clusters": ["intl"],
    },
    # Refused the newsletter by e-mail only: a `newsletter` message reaches him by SMS.
    {
        "_id": "hugo",
        "name": "Hugo",
        "surname": "Martin",
        "emailAddress": "hugo@example.com",
        "phoneNumber": "+393335555555",
        "locale": "en-GB",
        "timezone": "Europe/London",
        "preferences": {"newsletter": {"email": False}},
        "clusters": ["intl"],
    },
]

TEMPLATES: list[dict[str, Any]] = [
    {
        "_id": ObjectId(REMINDER_TEMPLATE),
        "name": "appointment-reminder",
        "emailTitle": "Your appointment, {{user.name}}",
        "emailHtmlMessage": (
            "<p>Hello, {{user.name}} {{user.surname}}!</p>"
            '<p>{{#if (eq data.type "patients")}}Your visit{{else}}Your shift{{/if}} is on '
            '{{dateFormat data.appointmentDate format="DD/MM/YYYY [at] HH:mm" tz="Europe/Rome"}}.</p>'
            "<p>{{data.notes}}</p>"
        ),
        "smsMessage": (
            '{{user.name}}, reminder: {{dateFormat data.appointmentDate format="DD/MM HH:mm" tz="Europe/Rome"}}'
        ),
        "pushTitle": "Appointment reminder",
        "pushSubtitle": "{{user.name}} {{user.surname}}",
        "pushMessage": '{{dateFormat data.appointmentDate format="DD/MM/YYYY HH:mm" tz="Europe/Rome"}}',
        "pushData": {"appointmentId": "{{data.appointmentId}}", "android": {"priority": "high"}},
        "voiceMessage": (
            "Hello {{user.name}}, this is a reminder of your appointment on "
            '{{dateFormat data.appointmentDate format="D MMMM [at] HH:mm" tz="Europe/Rome"}}.'
        ),
    },
    {"_id": ObjectId(WELCOME_TEMPLATE), "name": "welcome-sms", "smsMessage": "Welcome, {{user.name}}!"},
]


# Files the File Service stand-in serves (GET /download/<name>).
FILES: dict[str, bytes] = {
    "visit-checklist.pdf": b"%PDF-1.4\n% demo checklist\n" + bytes(range(256)) * 8,
    "informativa perché.txt": "Informativa sul trattamento dei dati: è un esempio.\n".encode(),
}
