"""What the providers report after accepting a message, recorded per send (FeedbackFunction).

Events arrive through one SNS topic, at least once each:

- SES event publishing (configuration set → SNS): `Delivery`, `Bounce`, `Complaint`, `Reject`,
  `Rendering Failure`, `Subscription` (and `Send`, `DeliveryDelay`, `Open`, `Click`, which change
  nothing here). The message's tags (`mail.tags`) name the send and the user
  (messaging.channels.email.email_tags).
- End User Messaging SMS and voice (configuration set → SNS): `TEXT_*` and `VOICE_*` events, the
  send and user in the message's `context` (messaging.channels.sms.context). Only final events
  count (`isFinal`): a carrier error on the way may still end delivered.

Each counted event moves one of the send's counters (`delivered`, `bounced`, `complained`,
`undelivered`: parts of `sent`, the user stays counted sent) once per message and outcome; a bounce,
complaint, rejection or carrier failure also joins the send's failures with a reason made of the
provider's classification only (`bounced: Permanent/General`), never its diagnostic text (which
can quote addresses). A complaint or an unsubscribe opts the user out of e-mail in the users
collection, whether or not the send is still on record. Events of unknown or expired sends, or
without our tags, are counted (`DeliveryEventsIgnored`) and dropped; a malformed event never
raises (a raise makes Lambda invoke again). Only an outage of the sends table or the database
raises, so that Lambda's retries of the SNS invocation bring the event back.
"""
