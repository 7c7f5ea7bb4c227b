"""Files in the Slack direct message: the report the core hands over (``SendDocument``).

An uploaded file is known by its file id (``F...``), not by a message ``ts``: the adapter
reports that id as the document's message id, so ``forget`` deletes the file with the messages.
"""

from __future__ import annotations

import logging

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from dvrules.chat import SendDocument

log = logging.getLogger("dvrules.slack")


def upload(client: WebClient, channel: str, doc: SendDocument) -> str:
    """slack_sdk's ``files_upload_v2``: ``files.getUploadURLExternal``, the bytes to the URL it
    gives, then ``files.completeUploadExternal`` into ``channel``; returns the file's id."""
    done = client.files_upload_v2(
        channel=channel, content=doc.data, filename=doc.name, title=doc.name
    )
    return str(done["file"]["id"])


def delete(client: WebClient, channel: str, message_id: str) -> None:
    """Delete a message (by its ts) or an uploaded file (by its id); failures are only logged."""
    try:
        if message_id.startswith("F"):
            client.files_delete(file=message_id)
        else:
            client.chat_delete(channel=channel, ts=message_id)
    except (SlackApiError, OSError) as err:
        log.warning("Slack refused a deletion: %s", type(err).__name__)
