"""A WSGI app as tutorials write one, for test_fork.py: the client is built, and used, at import, in
the gunicorn master (``--preload``); every worker forked from it serves requests with that client."""

import json
import os
import time

from supercompat import from_config

client = from_config()  # supercompat.toml from $SUPERCOMPAT_CONFIG
assistant = client.beta.assistants.create(model="m", name="made at import")
meeting = client.beta.threads.create()  # where the workers check in


def work():
    """A conversation, once both workers have checked in (each request waits, at most 30 s), so two
    requests sent at once are served by two workers."""
    client.beta.threads.messages.create(meeting.id, role="user", content=str(os.getpid()))
    for _ in range(600):
        if len({m.content[0].text.value for m in client.beta.threads.messages.list(meeting.id).data}) >= 2:
            break
        time.sleep(0.05)
    thread = client.beta.threads.create()
    message = client.beta.threads.messages.create(thread.id, role="user", content="hello")
    polled = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    with client.beta.threads.runs.stream(thread_id=thread.id, assistant_id=assistant.id) as stream:
        stream.until_done()
        streamed = stream.get_final_run()
    return {"pid": os.getpid(), "thread": thread.id, "message": message.id, "runs": [polled.id, streamed.id],
            "statuses": [polled.status, streamed.status]}


def app(environ, start_response):
    if environ["PATH_INFO"] == "/made":
        body = {"assistant": assistant.id}
    elif environ["PATH_INFO"] == "/work":
        body = work()
    else:
        start_response("404 Not Found", [("Content-Type", "application/json")])
        return [b"{}"]
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps(body).encode()]
