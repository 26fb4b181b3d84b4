"""Drives `baton serve --http`'s A2A endpoint with the official A2A Python SDK (`a2a-sdk` from
PyPI, installed by `./x setup`) and prints what it saw as JSON, for tests/platform/a2a.rs.

Usage: a2a_client.py BIN HOME BASE_URL KEY SCENARIO [ARGS...]
  plugins            card, blocking and streaming sends to echo.echo, get, list (paged,
                     filtered), and the errors a client meets
  agent AGENT        a task for an agent, answered with `baton reply` while subscribed
  cancel AGENT       a task for an agent canceled before it is picked up
  asks AGENT         two tasks the agent asks back about: one answered over A2A and replied
                     to, one canceled while it waits for the answer
  send SKILL JSON    a task sent without waiting: {id, state}
  wait ID SECS       GetTask until the task is terminal: the task
  subscribe ID [GATE]
                     SubscribeToTask until the stream ends: the events, then GetTask's task;
                     with GATE, creates that file once the first event is in (a test's signal
                     that the subscription is live)
  crowd AGENT N      N blocking sends to an agent left waiting, then one to echo.echo: how long
                     the echo took while they waited
"""
import asyncio
import json
import os
import subprocess
import sys

import httpx
from google.protobuf import json_format

from a2a.client import A2ACardResolver, ClientConfig, ClientFactory
from a2a.types.a2a_pb2 import (
    CancelTaskRequest,
    GetTaskRequest,
    ListTasksRequest,
    Message,
    Part,
    Role,
    SendMessageConfiguration,
    SendMessageRequest,
    SubscribeToTaskRequest,
    TaskPushNotificationConfig,
    TaskState,
)

BIN, HOME, BASE, KEY, SCENARIO = sys.argv[1:6]
ARGS = sys.argv[6:]


def state_name(s):
    return TaskState.Name(s)


def message(skill, data=None, text=None, context=None):
    m = Message(message_id=f"m-{skill}-{id(data)}-{text and len(text)}", role=Role.ROLE_USER)
    if data is not None:
        m.parts.add().data.struct_value.update(data)
    if text is not None:
        m.parts.add().text = text
    if context:
        m.context_id = context
    m.metadata.update({"skill": skill})
    return m


def as_dict(pb):
    return json_format.MessageToDict(pb)


def claude_code(*args):
    """Claude Code's side of a team inbox: tests/claude-side/writer.js, under its lock."""
    writer = os.path.join(os.path.dirname(os.path.abspath(__file__)), "claude-side", "writer.js")
    subprocess.run(["node", writer, *args], check=True, capture_output=True)

async def error_of(coro):
    """Runs a call expected to fail: the SDK's error class and message."""
    try:
        r = coro
        if hasattr(r, "__anext__"):
            async for _ in r:
                pass
        else:
            await r
    except Exception as e:  # the SDK raises its A2A error classes
        return {"error": type(e).__name__, "message": str(e)}
    return {"error": None}


async def raw(hc, body, headers=None):
    r = await hc.post(f"{BASE}/a2a", content=body if isinstance(body, bytes) else json.dumps(body), headers=headers or {})
    try:
        return {"status": r.status_code, "body": r.json()}
    except Exception:
        return {"status": r.status_code, "body": r.text}


async def send_collect(client, req):
    events = []
    async for ev in client.send_message(req):
        events.append(as_dict(ev))
    return events


async def main():
    out = {}
    headers = {"Authorization": f"Bearer {KEY}"}
    async with httpx.AsyncClient(headers=headers, timeout=60) as hc:
        card = await A2ACardResolver(hc, BASE).get_agent_card()
        blocking = ClientFactory(ClientConfig(httpx_client=hc, streaming=False)).create(card)
        streaming = ClientFactory(ClientConfig(httpx_client=hc, streaming=True)).create(card)

        if SCENARIO == "plugins":
            out["card"] = as_dict(card)
            hi = message("echo.echo", {"message": "hi"})
            events = await send_collect(blocking, SendMessageRequest(message=hi))
            out["blocking"] = events
            first = events[-1]["task"]
            # The same message again (as a client whose answer was lost would): the same task.
            out["again"] = (await send_collect(blocking, SendMessageRequest(message=hi)))[-1]["task"]
            t = await blocking.get_task(GetTaskRequest(id=first["id"]))
            out["get"] = as_dict(t)
            out["streamed"] = await send_collect(
                streaming, SendMessageRequest(message=message("echo.echo", {"n": 2}, context=first["contextId"]))
            )
            # A third, in a context of its own, then the list: paged one at a time.
            await send_collect(blocking, SendMessageRequest(message=message("echo.echo", {"n": 3})))
            pages, token = [], ""
            while True:
                page = await blocking.list_tasks(ListTasksRequest(page_size=1, page_token=token))
                pages.append({"ids": [x.id for x in page.tasks], "next": page.next_page_token, "total": page.total_size})
                token = page.next_page_token
                if not token or len(pages) > 10:
                    break
            out["pages"] = pages
            ctx = await blocking.list_tasks(ListTasksRequest(context_id=first["contextId"], include_artifacts=True))
            out["in_context"] = as_dict(ctx)
            done = await blocking.list_tasks(ListTasksRequest(status=TaskState.TASK_STATE_COMPLETED))
            out["completed_total"] = done.total_size
            failed = await blocking.list_tasks(ListTasksRequest(status=TaskState.TASK_STATE_FAILED))
            out["failed_total"] = failed.total_size

            errors = {}
            errors["unknown_skill"] = await error_of(
                send_collect(blocking, SendMessageRequest(message=message("nope.nope", {})))
            )
            # An installed plugin's unknown action, and params against the action's schema:
            # refused before anything is written, as the agent card's skills promise.
            errors["unknown_action"] = await error_of(
                send_collect(blocking, SendMessageRequest(message=message("echo.nope", {"message": "x"})))
            )
            errors["bad_params"] = await error_of(
                send_collect(blocking, SendMessageRequest(message=message("audit.audit", {"path": 5})))
            )
            errors["agent_path"] = await error_of(
                send_collect(blocking, SendMessageRequest(message=message("agent:../baton", text="x")))
            )
            errors["no_skill"] = await error_of(
                send_collect(blocking, SendMessageRequest(message=Message(message_id="x", role=Role.ROLE_USER)))
            )
            errors["unknown_task"] = await error_of(blocking.get_task(GetTaskRequest(id="01NOSUCHTASK")))
            errors["cancel_done"] = await error_of(blocking.cancel_task(CancelTaskRequest(id=first["id"])))
            errors["subscribe_done"] = await error_of(streaming.subscribe(SubscribeToTaskRequest(id=first["id"])))
            big = "x" * int(ARGS[0]) if ARGS else "x" * (2 << 20)
            errors["too_large"] = await error_of(
                send_collect(blocking, SendMessageRequest(message=message("echo.echo", {"blob": big})))
            )
            errors["push"] = await error_of(
                blocking.create_task_push_notification_config(
                    TaskPushNotificationConfig(task_id=first["id"], url="http://example.com/hook")
                )
            )
            errors["follow_up"] = await error_of(
                send_collect(
                    blocking,
                    SendMessageRequest(
                        message=Message(message_id="f", task_id=first["id"], role=Role.ROLE_USER, parts=[])
                    ),
                )
            )
            out["errors"] = errors
            # Below the SDK: what a hand-written client gets.
            v1 = {"A2A-Version": "1.0"}
            # The SDK set A2A-Version on `hc`; a client of its own sends none.
            async with httpx.AsyncClient(headers=headers, timeout=30) as bare:
                no_version = await raw(bare, {"jsonrpc": "2.0", "id": 1, "method": "GetTask", "params": {"id": first["id"]}})
            out["raw"] = {
                "no_version": no_version,
                "parse": await raw(hc, b"{not json", v1),
                "method": await raw(hc, {"jsonrpc": "2.0", "id": 2, "method": "tasks/get", "params": {}}, v1),
                "batch": await raw(hc, [{"jsonrpc": "2.0", "id": 3, "method": "GetTask"}], v1),
                "bad_params": await raw(hc, {"jsonrpc": "2.0", "id": 4, "method": "GetTask", "params": {"id": 7}}, v1),
                "bad_page": await raw(
                    hc, {"jsonrpc": "2.0", "id": 5, "method": "ListTasks", "params": {"pageSize": 1000}}, v1
                ),
            }
            async with httpx.AsyncClient(timeout=30) as anon:
                r = await anon.post(f"{BASE}/a2a", json={"jsonrpc": "2.0", "id": 1, "method": "GetTask"}, headers=v1)
                out["raw"]["no_key"] = {"status": r.status_code}
                r = await anon.post(
                    f"{BASE}/a2a",
                    json={"jsonrpc": "2.0", "id": 1, "method": "GetTask"},
                    headers={**v1, "Host": "evil.example:80", "Authorization": f"Bearer {KEY}"},
                )
                out["raw"]["foreign_host"] = {"status": r.status_code}

        elif SCENARIO == "agent":
            agent = ARGS[0]
            req = SendMessageRequest(
                message=message(f"agent:{agent}", {"pr": 42}, text="Review PR 42\nThe parser change."),
                configuration=SendMessageConfiguration(return_immediately=True),
            )
            sent = (await send_collect(blocking, req))[-1]["task"]
            out["sent"] = sent
            events = []
            async for ev in streaming.subscribe(SubscribeToTaskRequest(id=sent["id"])):
                events.append(as_dict(ev))
                if len(events) == 1:
                    # The agent answers, as it would from its own shell.
                    r = subprocess.run(
                        [BIN, "--home", HOME, "reply", sent["id"], "--status", "completed", "--summary",
                         "Reviewed; two comments", "--result", '{"comments": 2}', "--json"],
                        env={**os.environ, "BATON_AGENT": agent}, capture_output=True, text=True,
                    )
                    out["reply"] = {"code": r.returncode, "stdout": r.stdout, "stderr": r.stderr}
            out["events"] = events
            out["get"] = as_dict(await blocking.get_task(GetTaskRequest(id=sent["id"])))

        elif SCENARIO == "asks":
            # The agent asks back (`baton reply --status input_required`): the task is
            # INPUT_REQUIRED with the question; a message with its taskId and a data part answers
            # it (an `input` in the agent's inbox), and the agent's reply completes it. A second
            # task the agent asks about is canceled while it waits for the answer.
            agent = ARGS[0]

            def reply(task_id, *args):
                r = subprocess.run([BIN, "--home", HOME, "reply", task_id, *args], capture_output=True, text=True,
                                   env={**os.environ, "BATON_AGENT": agent})
                return {"code": r.returncode, "stderr": r.stderr}

            schema = json.dumps({"type": "object", "required": ["branch"], "properties": {"branch": {"type": "string"}}})
            ids = []
            for text in ("Merge the fix", "Tag the release"):
                req = SendMessageRequest(message=message(f"agent:{agent}", text=text),
                                         configuration=SendMessageConfiguration(return_immediately=True))
                ids.append((await send_collect(blocking, req))[-1]["task"]["id"])
                out.setdefault("ask", []).append(
                    reply(ids[-1], "--status", "input_required", "--summary", "Which branch?", "--input-schema", schema))
            out["asked"] = as_dict(await blocking.get_task(GetTaskRequest(id=ids[0])))
            m = Message(message_id="m-answer", role=Role.ROLE_USER, task_id=ids[0])
            m.parts.add().data.struct_value.update({"branch": "main"})
            events = []
            async for ev in streaming.send_message(SendMessageRequest(message=m)):
                events.append(as_dict(ev))
                if len(events) == 1:
                    out["reply"] = reply(ids[0], "--status", "completed", "--summary", "Merged into main")
            out["answered"] = events

            # Text alone answers with a JSON string: refused where the schema wants an object
            # (the second question, still open), taken where it wants a string (a third).
            def text_answer(task_id, text):
                m = Message(message_id=f"m-text-{task_id}", role=Role.ROLE_USER, task_id=task_id)
                m.parts.add().text = text
                return SendMessageRequest(message=m, configuration=SendMessageConfiguration(return_immediately=True))
            out["text_to_object"] = await error_of(send_collect(blocking, text_answer(ids[1], "main")))
            out["canceled"] = as_dict(await blocking.cancel_task(CancelTaskRequest(id=ids[1])))
            req = SendMessageRequest(message=message(f"agent:{agent}", text="Name the tag"),
                                     configuration=SendMessageConfiguration(return_immediately=True))
            ids.append((await send_collect(blocking, req))[-1]["task"]["id"])
            out["ask"].append(reply(ids[2], "--status", "input_required", "--summary", "Which tag?",
                                    "--input-schema", json.dumps({"type": "string"})))
            out["text_answered"] = (await send_collect(blocking, text_answer(ids[2], "v1.2")))[-1]
            out["ids"] = ids

        elif SCENARIO == "cancel":
            agent = ARGS[0]
            req = SendMessageRequest(
                message=message(f"agent:{agent}", text="Tidy the changelog"),
                configuration=SendMessageConfiguration(return_immediately=True),
            )
            sent = (await send_collect(blocking, req))[-1]["task"]
            out["sent"] = sent
            out["canceled"] = as_dict(await blocking.cancel_task(CancelTaskRequest(id=sent["id"])))
            out["get"] = as_dict(await blocking.get_task(GetTaskRequest(id=sent["id"])))
            out["again"] = await error_of(blocking.cancel_task(CancelTaskRequest(id=sent["id"])))

        elif SCENARIO == "team":
            # A plugin task whose answer goes to a Claude Code team's agent (metadata.reply_to):
            # the blocking send still ends with the task's final state, read from that inbox.
            m = message("echo.echo", {"n": 5})
            m.metadata.update({"reply_to": ARGS[0]})
            out["blocking"] = (await send_collect(blocking, SendMessageRequest(message=m)))[-1]["task"]
            bad = message("echo.echo", {"n": 6})
            bad.metadata.update({"reply_to": "alpha/nobody"})
            out["unknown"] = await error_of(send_collect(blocking, SendMessageRequest(message=bad)))
            # A TASK a team's agent dropped by hand, waiting for an agent: canceled, its
            # `canceled` RETURN delivered into the team agent's inbox.
            out["canceled"] = as_dict(await blocking.cancel_task(CancelTaskRequest(id=ARGS[1])))
            out["get_canceled"] = as_dict(await blocking.get_task(GetTaskRequest(id=ARGS[1])))

        elif SCENARIO == "teammate":
            # A message to a Claude Code teammate (`agent:TEAM/AGENT`): delivered into its Claude
            # inbox; the task follows the receipt, and the teammate's message back is the answer.
            # ARGS: the teammate, its inbox file, the inbox its answer to `a2a` goes into.
            teammate, inbox, back = ARGS[0], ARGS[1], ARGS[2]
            sent = (await send_collect(blocking, SendMessageRequest(
                message=message(f"agent:{teammate}", text="Review the lexer\nIt is in src/lex.rs."),
                configuration=SendMessageConfiguration(return_immediately=True),
            )))[-1]["task"]
            out["sent"] = sent
            # Claude Code takes the message (its read flag): noticed, working. Claude Code's
            # side is a Node process locking as Claude Code does (tests/claude-side/writer.js).
            claude_code("--notice", inbox, "Review the lexer\nIt is in src/lex.rs.")
            out["noticed"] = as_dict(await blocking.get_task(GetTaskRequest(id=sent["id"])))
            # The teammate writes back to `a2a`, as SendMessage does: completed, with its answer.
            claude_code("--write", back, teammate.split("/")[1], "Reviewed: two comments on line 40.")
            out["answered"] = as_dict(await blocking.get_task(GetTaskRequest(id=sent["id"])))
            listed = await blocking.list_tasks(ListTasksRequest())
            out["listed"] = [x.id for x in listed.tasks]
            team = teammate.split("/")[0]
            out["unknown"] = await error_of(send_collect(blocking, SendMessageRequest(message=message(f"agent:{team}/nobody", text="hello"))))
            out["data"] = await error_of(send_collect(blocking, SendMessageRequest(message=message(f"agent:{teammate}", {"n": 1}))))
            elsewhere = message(f"agent:{teammate}", text="answer elsewhere")
            elsewhere.metadata.update({"reply_to": "Codex"})
            out["reply_to"] = await error_of(send_collect(blocking, SendMessageRequest(message=elsewhere)))

        elif SCENARIO == "ask":
            # A task that asks back (docs/asking-back.md): the blocking send ends at
            # TASK_STATE_INPUT_REQUIRED with the question; a message with its taskId answers.
            asked = (await send_collect(blocking, SendMessageRequest(message=message("echo.ask"))))[-1]["task"]
            out["asked"] = asked
            bad = message("echo.ask", {"name": 5})
            bad.task_id = asked["id"]
            out["bad"] = await error_of(send_collect(blocking, SendMessageRequest(message=bad)))
            good = message("echo.ask", {"name": "Ada"})
            good.task_id = asked["id"]
            good.message_id = "m-answer"
            out["answered"] = (await send_collect(blocking, SendMessageRequest(message=good)))[-1]["task"]

        elif SCENARIO == "conformance":
            # What the A2A TCK checks beyond features (issue 79): the URL with a slash, proto
            # (snake_case) field names read as the JSON ones, an ErrorInfo on every error, a
            # cacheable card, and a message without a skill going to `[a2a] default_agent`.
            v1 = {"A2A-Version": "1.0"}
            out["slash"] = await raw(hc, {"jsonrpc": "2.0", "id": 1, "method": "GetTask", "params": {"id": "no-such-task"}}, v1)
            out["slash_url"] = (await hc.post(f"{BASE}/a2a/", json={"jsonrpc": "2.0", "id": 2, "method": "GetTask",
                                                                      "params": {"id": "no-such-task"}}, headers=v1)).json()
            snake = {"message": {"message_id": "m-snake", "role": "ROLE_USER", "context_id": "ctx-snake",
                                 "parts": [{"data": {"message_id": "kept as sent"}}], "metadata": {"skill": "echo.echo"}},
                     "configuration": {"return_immediately": True, "history_length": 0}}
            out["snake_sent"] = await raw(hc, {"jsonrpc": "2.0", "id": 3, "method": "SendMessage", "params": snake}, v1)
            out["snake_list"] = await raw(hc, {"jsonrpc": "2.0", "id": 4, "method": "ListTasks",
                                               "params": {"context_id": "ctx-snake", "page_size": 10}}, v1)
            other = message("echo.echo", {"n": 1})
            await send_collect(blocking, SendMessageRequest(message=other))
            out["all_list"] = await raw(hc, {"jsonrpc": "2.0", "id": 5, "method": "ListTasks", "params": {}}, v1)
            out["default"] = (await send_collect(blocking, SendMessageRequest(
                message=Message(message_id="m-no-skill", role=Role.ROLE_USER, parts=[Part(text="Pick a colour")]),
                configuration=SendMessageConfiguration(return_immediately=True))))[-1]["task"]
            card_url = f"{BASE}/.well-known/agent-card.json"
            first = await hc.get(card_url)
            again = await hc.get(card_url, headers={"If-None-Match": first.headers.get("etag", "")})
            out["card"] = {"status": first.status_code, "cache_control": first.headers.get("cache-control"),
                           "etag": first.headers.get("etag"), "again": again.status_code, "again_body": again.text}

        elif SCENARIO == "send":
            skill, params = ARGS[0], json.loads(ARGS[1])
            req = SendMessageRequest(
                message=message(skill, params), configuration=SendMessageConfiguration(return_immediately=True)
            )
            t = (await send_collect(blocking, req))[-1]["task"]
            out = {"id": t["id"], "state": t["status"]["state"]}

        elif SCENARIO == "wait":
            task_id, secs = ARGS[0], float(ARGS[1])
            loop = asyncio.get_running_loop()
            end = loop.time() + secs
            while True:
                t = await blocking.get_task(GetTaskRequest(id=task_id))
                if t.status.state in (TaskState.TASK_STATE_COMPLETED, TaskState.TASK_STATE_FAILED,
                                      TaskState.TASK_STATE_REJECTED, TaskState.TASK_STATE_CANCELED) or loop.time() > end:
                    out = as_dict(t)
                    break
                await asyncio.sleep(0.1)
        elif SCENARIO == "subscribe":
            task_id = ARGS[0]
            gate = ARGS[1] if len(ARGS) > 1 else None
            events = []
            async for ev in streaming.subscribe(SubscribeToTaskRequest(id=task_id)):
                events.append(as_dict(ev))
                if gate:
                    open(gate, "w").close()
                    gate = None
            out = {"events": events, "get": as_dict(await blocking.get_task(GetTaskRequest(id=task_id)))}

        elif SCENARIO == "crowd":
            agent, n = ARGS[0], int(ARGS[1])
            v1 = {"A2A-Version": "1.0"}

            def body(i, skill, part):
                return {"jsonrpc": "2.0", "id": i, "method": "SendMessage",
                        "params": {"message": {"messageId": f"c{i}", "role": "ROLE_USER", "parts": [part],
                                               "metadata": {"skill": skill}}}}

            async def waiting(i):
                try:
                    await hc.post(f"{BASE}/a2a", json=body(i, f"agent:{agent}", {"text": f"Task {i}"}), headers=v1,
                                  timeout=5)
                    return "answered"
                except httpx.TimeoutException:
                    return "still waiting"

            crowd = [asyncio.create_task(waiting(i)) for i in range(n)]
            await asyncio.sleep(2)
            loop = asyncio.get_running_loop()
            t0 = loop.time()
            r = await hc.post(f"{BASE}/a2a", json=body(n, "echo.echo", {"data": {"x": 1}}), headers=v1, timeout=60)
            out = {"echo_secs": loop.time() - t0, "echo_state": r.json()["result"]["task"]["status"]["state"]}
            out["crowd"] = sorted(set(await asyncio.gather(*crowd)))
        else:
            raise SystemExit(f"unknown scenario {SCENARIO}")
    print(json.dumps(out))


asyncio.run(main())
